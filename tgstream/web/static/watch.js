// Copy-link button; everything else on the page is plain HTML.
(function () {
  "use strict";
  var button = document.getElementById("copy-link");
  var hint = document.getElementById("copy-hint");
  if (!button) { return; }
  button.addEventListener("click", function () {
    var link = button.getAttribute("data-link");
    function done(text) { if (hint) { hint.textContent = text; } }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(function () { done("Link copied."); },
        function () { done(link); });
    } else {
      var field = document.createElement("textarea");
      field.value = link; document.body.appendChild(field); field.select();
      try { document.execCommand("copy"); done("Link copied."); } catch (e) { done(link); }
      document.body.removeChild(field);
    }
  });
  var media = document.querySelector("video, audio");
  if (media) {
    media.addEventListener("error", function () {
      done2("This browser cannot play the file: download it, or open it in a player.");
    });
  }
  function done2(text) { if (hint) { hint.textContent = text; } }
}());
