// Inbox: a select-all checkbox for the bulk actions, and a compact density kept per browser.
(function () {
  var all = document.querySelector("[data-select-all]");
  if (all) {
    var boxes = function () {
      return document.querySelectorAll('input[type=checkbox][name="' + all.dataset.selectAll + '"]');
    };
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
    document.addEventListener("change", function (event) {
      if (event.target === all || event.target.name !== all.dataset.selectAll) return;
      var list = Array.prototype.slice.call(boxes());
      var ticked = list.filter(function (box) { return box.checked; }).length;
      all.checked = ticked > 0 && ticked === list.length;
      all.indeterminate = ticked > 0 && ticked < list.length;
    });
  }
  var density = document.getElementById("density");
  var table = document.querySelector("table.tasks");
  if (density && table) {
    var apply = function (compact) {
      table.classList.toggle("compact", compact);
      density.checked = compact;
    };
    apply(window.localStorage.getItem("fxcrm.inbox.compact") === "1");
    density.addEventListener("change", function () {
      window.localStorage.setItem("fxcrm.inbox.compact", density.checked ? "1" : "0");
      apply(density.checked);
    });
  }
})();
