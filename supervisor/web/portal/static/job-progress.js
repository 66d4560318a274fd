// A running job's page: the progress updates in place (a polite live region), and the page
// opens the result once the job has finished. Without script, the "Update" link does it.
// Replaces a <meta http-equiv="refresh">, which reloads the whole page every two seconds
// under a screen reader's cursor (WCAG 2.2.1, axe "meta-refresh").
(function () {
  "use strict";
  var progress = document.getElementById("job-progress");
  if (!progress || !window.fetch || !window.DOMParser) { return; }
  function poll() {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html");
        var nextProgress = next.getElementById("job-progress");
        if (!nextProgress) { window.location.reload(); return; }
        if (nextProgress.textContent !== progress.textContent) {
          progress.textContent = nextProgress.textContent;
        }
        var bar = document.querySelector("progress");
        var nextBar = next.querySelector("progress");
        if (bar && nextBar) { bar.value = nextBar.value; }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
})();
