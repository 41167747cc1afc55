// Document viewer: zoom and rotate an identity photo in place (buttons under each image).
// No inline script (the Content-Security-Policy allows only our own files).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-viewer]");
  if (!button) return;
  var frame = button.closest(".document-file").querySelector(".document-zoom");
  var image = frame && frame.querySelector("img");
  if (!image) return;
  var scale = parseFloat(image.dataset.scale || "1");
  var turn = parseInt(image.dataset.turn || "0", 10);
  var action = button.dataset.viewer;
  if (action === "in") scale = Math.min(scale * 1.5, 8);
  if (action === "out") scale = Math.max(scale / 1.5, 1);
  if (action === "rotate") turn = (turn + 90) % 360;
  if (action === "reset") { scale = 1; turn = 0; }
  image.dataset.scale = String(scale);
  image.dataset.turn = String(turn);
  // Zoom by width (the frame scrolls over the whole image); turn around the centre.
  image.style.maxWidth = scale > 1 ? "none" : "";
  image.style.width = (scale * 100) + "%";
  image.style.transform = turn ? "rotate(" + turn + "deg)" : "";
  frame.classList.toggle("zoomed", scale > 1);
  frame.setAttribute("aria-label", "zoom " + Math.round(scale * 100) + "%, turned " + turn + " degrees");
});
