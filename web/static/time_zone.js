// Offer the browser's own IANA zone on the time-zone page; the user still saves it.
(function () {
  var hint = document.querySelector("[data-suggest-zone]");
  var input = document.getElementById("time_zone");
  var zone = (window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone) || "";
  if (!hint || !input || !zone) return;
  hint.textContent = "Your browser is in " + zone + ". ";
  var use = document.createElement("button");
  use.type = "button";
  use.className = "btn btn-link btn-sm p-0 align-baseline";
  use.id = "tz-use-browser";
  use.textContent = "Use " + zone;
  use.addEventListener("click", function () { input.value = zone; input.focus(); });
  hint.appendChild(use);
})();
