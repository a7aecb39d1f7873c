// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Quick exit: replace this page in the history, so Back does not return here.
  document.querySelectorAll("[data-quick-exit]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      try { document.body.innerHTML = ""; document.title = "Weather"; } catch (e) { /* ignore */ }
      window.location.replace(link.href);
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && event.shiftKey) {
      var link = document.querySelector("[data-quick-exit]");
      if (link) { window.location.replace(link.href); }
    }
  });
  // Move focus to the error summary so screen readers announce it.
  var summary = document.querySelector("[data-autofocus]");
  if (summary) { summary.focus(); }
  // An error link focuses its field and shows the field's label or question with it:
  // the plain jump to #id would put the label above the screen, or under the header.
  document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      var control = target.matches("fieldset") ? target.querySelector("input, select, textarea") : target;
      var field = target.closest(".field, fieldset") || target;
      event.preventDefault();
      field.scrollIntoView({ block: "start" });
      if (control) { control.focus({ preventScroll: true }); }
    });
  });
  // Copy buttons.
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
