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
