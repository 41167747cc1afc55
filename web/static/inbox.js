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

// Keyboard: j / k move between tasks, x ticks the current one, c claims it, o or Enter opens it,
// / jumps to the first filter, ? shows the keys. Keys typed into a field are left alone.
(function () {
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("table.tasks tbody tr[id^='task-']")); };
  var current = -1;
  var help = document.getElementById("inbox-keys");
  function focusRow(index) {
    var list = rows();
    if (!list.length) return;
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (row, i) { row.classList.toggle("is-current", i === current); });
    list[current].querySelector("a").focus();
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) return;
    var list = rows();
    if (event.key === "j") { focusRow(current + 1); event.preventDefault(); }
    else if (event.key === "k") { focusRow(current - 1); event.preventDefault(); }
    else if (event.key === "x" && list[current]) {
      var box = list[current].querySelector("input[type=checkbox]");
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
      event.preventDefault();
    } else if (event.key === "c" && list[current]) {
      var claim = list[current].querySelector("button[formaction$='/claim']");
      if (claim) { claim.click(); event.preventDefault(); }
    } else if ((event.key === "o" || event.key === "Enter") && list[current]) {
      window.location = list[current].querySelector("a").href;
      event.preventDefault();
    } else if (event.key === "/") {
      var field = document.querySelector("#filters input, #filters select");
      if (field) { field.focus(); event.preventDefault(); }
    } else if (event.key === "?" && help) {
      help.open = !help.open;
      event.preventDefault();
    }
  });
})();
