// The receipt's print button (no inline handlers: the Content Security Policy allows none).
import "./common.js";

for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
