// The availability page: a tutor without saved hours starts from the browser's own time zone.
import "./common.js";
import { timeZone } from "./common.js";

const select = document.querySelector("#timezone[data-guess]");
if (select && [...select.options].some((option) => option.value === timeZone())) {
  select.value = timeZone();
}
