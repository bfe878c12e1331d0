// Click a word or a phrase's time to hear that moment; the word being spoken is outlined.
(function () {
  "use strict";
  function playerFor(el) {
    var panel = el.closest(".panel");
    return (panel && panel.querySelector("audio")) || document.querySelector("audio");
  }
  function seek(player, t) {
    if (!player) { return; }
    player.currentTime = Math.max(0, t - 0.2);
    var p = player.play();
    if (p && p.catch) { p.catch(function () {}); }
  }
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-seek], .transcript .w");
    if (!el) { return; }
    var t = parseFloat(el.getAttribute("data-seek") || el.getAttribute("data-start"));
    if (!isNaN(t)) { seek(playerFor(el), t); }
  });
  document.querySelectorAll("audio").forEach(function (player) {
    var panel = player.closest(".panel");
    var words = panel ? panel.querySelectorAll(".transcript .w") : [];
    player.addEventListener("timeupdate", function () {
      var t = player.currentTime;
      words.forEach(function (w) {
        var on = t >= parseFloat(w.dataset.start) && t < parseFloat(w.dataset.end);
        w.classList.toggle("playing", on);
      });
    });
  });
})();
