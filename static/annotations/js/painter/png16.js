/* The map as a 16-bit grayscale PNG (lossless at the image's resolution, what the server
 * decodes): values in [0, 1] scaled to 0..65535. Deflate comes from the browser's
 * CompressionStream; without one the data go in stored (uncompressed) blocks. */

const CRC_TABLE = (function () {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes, crc) {
  crc = crc === undefined ? 0xffffffff : crc;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  const crc = crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff;
  view.setUint32(8 + data.length, crc >>> 0);
  return out;
}

/** Rows of the map as 16-bit big-endian samples with PNG's "Sub" filter (type 1): each
 *  byte minus the same byte of the sample to its left. Painted maps are smooth, so this
 *  turns most bytes into small numbers that deflate compresses several times better. */
function rawRows(values, W, H) {
  const stride = 1 + W * 2;
  const raw = new Uint8Array(stride * H);
  for (let y = 0; y < H; y++) {
    let o = y * stride;
    raw[o++] = 1;
    let leftHigh = 0, leftLow = 0;
    for (let x = 0, i = y * W; x < W; x++, i++) {
      const v = values[i];
      const sample = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 65535);
      const high = sample >>> 8, low = sample & 0xff;
      raw[o++] = (high - leftHigh) & 0xff;
      raw[o++] = (low - leftLow) & 0xff;
      leftHigh = high;
      leftLow = low;
    }
  }
  return raw;
}

/** A zlib stream of stored (uncompressed) blocks, for browsers without CompressionStream. */
function zlibStored(data) {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(2 + data.length + blocks * 5 + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, data.length - start);
    out[o++] = b === blocks - 1 ? 1 : 0;
    out[o++] = len & 0xff;
    out[o++] = len >>> 8;
    out[o++] = ~len & 0xff;
    out[o++] = (~len >>> 8) & 0xff;
    out.set(data.subarray(start, start + len), o);
    o += len;
  }
  let s1 = 1, s2 = 0;
  for (let i = 0; i < data.length; i++) {
    s1 = (s1 + data[i]) % 65521;
    s2 = (s2 + s1) % 65521;
  }
  new DataView(out.buffer).setUint32(o, ((s2 << 16) | s1) >>> 0);
  return out;
}

function deflate(data) {
  if (typeof CompressionStream !== "function") return Promise.resolve(zlibStored(data));
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Response(stream).arrayBuffer().then((buffer) => new Uint8Array(buffer));
}

/** values: (H*W) floats in [0, 1], row by row -> Promise of a Blob "image/png". */
export function encodePng16(values, W, H) {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, W);
  view.setUint32(4, H);
  header[8] = 16; // bit depth
  header[9] = 0; // colour type: grayscale
  header[10] = 0; // compression
  header[11] = 0; // filter
  header[12] = 0; // no interlace
  return deflate(rawRows(values, W, H)).then((compressed) => {
    const signature = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    return new Blob([signature, chunk("IHDR", header), chunk("IDAT", compressed), chunk("IEND", new Uint8Array(0))],
      { type: "image/png" });
  });
}
