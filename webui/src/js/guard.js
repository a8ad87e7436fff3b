// Unsaved work on a page (the editor): the page registers a guard; leaving the page asks first.
let guard = null;

// guard: { dirty: () => boolean, discard: () => void }
export function setLeaveGuard(value) {
  guard = value;
}

export function hasUnsavedWork() {
  return Boolean(guard && guard.dirty());
}

export function discardUnsavedWork() {
  if (guard) guard.discard();
  guard = null;
}

window.addEventListener("beforeunload", (e) => {
  if (hasUnsavedWork()) e.preventDefault();
});
