/* Every participant page (templates/study/): the server owns the participant's position, so a
 * page the browser restores from its back-forward cache may be out of date (a trial already
 * submitted, the instructions after the trials began). Load it again instead: the server answers
 * with where the participant is now. The pages are sent with Cache-Control: no-store too.
 *
 * A page a stale tab was sent to carries ?already_submitted (its message); the flag is taken
 * out of the address so that a reload does not show the message again. */

window.addEventListener("pageshow", (event) => {
  if (event.persisted) window.location.reload();
});

if (new URLSearchParams(window.location.search).has("already_submitted")) {
  window.history.replaceState(window.history.state, "", window.location.pathname);
}
