// The watch page's script. With a probe of the file (the player's data-media), it asks this
// browser which way the file plays: the file itself when the browser decodes its container
// and codecs, else tgstream's HLS stream (video copied, audio made AAC) through hls.js or the
// browser's own HLS, else a note naming the codec the browser lacks, beside the player
// buttons. Then the audio and subtitle menus, and the Copy-link button.
(function () {
  "use strict";

  var HLS_AAC = "mp4a.40.2"; // what tgstream's HLS audio always is: AAC-LC

  function codecs(container, strings) {
    return container + '; codecs="' + strings.join(",") + '"';
  }

  // Pure: how to play `media` (the page's facts) in a browser that answers `can`:
  //   can.direct(type)  whether the element plays a file of this type with these codecs,
  //   can.mse(type)     whether Media Source Extensions take fragmented MP4 of it (hls.js),
  //   can.nativeHls()   whether the element plays HLS itself (Safari).
  // The answer: {mode: "direct" | "hls" | "native" | "none", note: text for "none"}.
  function choose(media, can) {
    var video = media.video;
    var audio = media.audio || [];
    var subtitles = media.subtitles || [];
    var strings = [];
    var known = true;
    [video, audio[0]].forEach(function (track) {
      if (track) {
        if (track.type) { strings.push(track.type); } else { known = false; }
      }
    });
    // A codec without a string is one no browser names, so none claims it: not direct.
    var direct = known && strings.length > 0 && !!media.mime &&
      can.direct(codecs(media.mime, strings));
    // The file itself cannot switch audio tracks or show its subtitles in most browsers.
    var extras = audio.length > 1 || subtitles.length > 0;
    if (direct && !(extras && media.hls)) { return {mode: "direct"}; }
    if (media.hls && (!video || video.type)) {
      var hlsType = video
        ? codecs("video/mp4", audio.length ? [video.type, HLS_AAC] : [video.type])
        : codecs("audio/mp4", [HLS_AAC]);
      if (can.mse(hlsType)) { return {mode: "hls"}; }
      if (can.nativeHls() && can.direct(hlsType)) { return {mode: "native"}; }
    }
    if (direct) { return {mode: "direct"}; }
    var what = "this file";
    var decodesVideo = !!(video && video.type) && [[video.type], [video.type, HLS_AAC]].some(
      function (strings) {
        var type = codecs("video/mp4", strings);
        return can.mse(type) || can.direct(type);
      });
    if (video && !decodesVideo) {
      what = video.name + " video";
    } else if (audio.length && !media.hls) {
      what = audio[0].name + " audio";
    }
    return {mode: "none", note: "This browser cannot decode " + what +
      ": open it in a player, or download it."};
  }

  // node's test runner reads choose() from here; a browser has no `module`.
  if (typeof module === "object" && module.exports) {
    module.exports = {choose: choose};
    return;
  }

  function browserCan(element) {
    var Source = window.ManagedMediaSource || window.MediaSource;
    return {
      direct: function (type) { return element.canPlayType(type) !== ""; },
      mse: function (type) {
        return !!(Source && Source.isTypeSupported && Source.isTypeSupported(type));
      },
      nativeHls: function () {
        return element.canPlayType("application/vnd.apple.mpegurl") !== "";
      }
    };
  }

  // A labelled <select> in the track menus; `pick(value)` runs on a change.
  function menu(box, id, label, options, selected, pick) {
    var old = document.getElementById(id);
    if (old) { old.parentNode.parentNode.removeChild(old.parentNode); }
    if (!options.length) { box.hidden = !box.querySelector("select"); return; }
    var wrap = document.createElement("label");
    wrap.className = "track-menu";
    wrap.appendChild(document.createTextNode(label + " "));
    var select = document.createElement("select");
    select.id = id;
    options.forEach(function (option) {
      var item = document.createElement("option");
      item.value = String(option[0]);
      item.textContent = option[1];
      select.appendChild(item);
    });
    select.value = String(selected);
    select.addEventListener("change", function () { pick(Number(select.value)); });
    wrap.appendChild(select);
    box.appendChild(wrap);
    box.hidden = false;
  }

  // hls.js tracks have a name (the playlist's NAME), the element's a label or language.
  function trackName(track, n) {
    return track.name || track.label || track.lang || track.language || "Track " + n;
  }

  function hlsMenus(hls, Hls, box) {
    function audioMenu() {
      var tracks = hls.audioTracks || [];
      menu(box, "audio-track", "Audio", tracks.length > 1 ? tracks.map(function (t, i) {
        return [i, trackName(t, i + 1)];
      }) : [], hls.audioTrack, function (i) { hls.audioTrack = i; });
    }
    function subtitleMenu() {
      var tracks = hls.subtitleTracks || [];
      var options = tracks.length ? [[-1, "Off"]].concat(tracks.map(function (t, i) {
        return [i, trackName(t, i + 1)];
      })) : [];
      menu(box, "subtitle-track", "Subtitles", options, hls.subtitleTrack, function (i) {
        hls.subtitleTrack = i;
        hls.subtitleDisplay = i >= 0;
      });
    }
    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, audioMenu);
    hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, audioMenu);
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, subtitleMenu);
    hls.on(Hls.Events.SUBTITLE_TRACK_SWITCH, subtitleMenu);
  }

  // The element's own tracks (Safari's native HLS, or a file played directly).
  function elementMenus(element, box) {
    var audio = element.audioTracks;
    if (audio && audio.length > 1) {
      var options = [];
      var selected = 0;
      for (var i = 0; i < audio.length; i += 1) {
        options.push([i, trackName(audio[i], i + 1)]);
        if (audio[i].enabled) { selected = i; }
      }
      menu(box, "audio-track", "Audio", options, selected, function (n) {
        for (var j = 0; j < audio.length; j += 1) { audio[j].enabled = j === n; }
      });
    }
    var text = element.textTracks;
    if (text && text.length) {
      var subs = [[-1, "Off"]];
      for (var k = 0; k < text.length; k += 1) { subs.push([k, trackName(text[k], k + 1)]); }
      menu(box, "subtitle-track", "Subtitles", subs, -1, function (n) {
        for (var m = 0; m < text.length; m += 1) { text[m].mode = m === n ? "showing" : "disabled"; }
      });
    }
  }

  function unplayable(player, note, text) {
    player.setAttribute("data-playback", "none");
    note.textContent = text;
    note.hidden = false;
  }

  function playHls(player, element, media, note, box) {
    var script = document.createElement("script");
    script.src = media.hls_js;
    script.onerror = function () {
      unplayable(player, note, "The HLS player did not load: open the file in a player, " +
        "or download it.");
    };
    script.onload = function () {
      var Hls = window.Hls;
      if (!Hls || !Hls.isSupported()) {
        unplayable(player, note, "This browser cannot play HLS: open the file in a player, " +
          "or download it.");
        return;
      }
      // No worker: the page's CSP allows scripts from tgstream's own files only, and the
      // worker hls.js would make comes from a blob. Segments are made on demand in a few
      // transcode slots, which answer 503 when all are taken (by jobs of segments a seek
      // just left, say, done a moment later): a refused segment is asked again soon, not
      // after hls.js's default second, so a seek plays within a second or two.
      var hls = new Hls({
        enableWorker: false,
        fragLoadPolicy: {default: {
          maxTimeToFirstByteMs: 20000,
          maxLoadTimeMs: 120000,
          timeoutRetry: {maxNumRetry: 4, retryDelayMs: 0, maxRetryDelayMs: 0},
          errorRetry: {maxNumRetry: 10, retryDelayMs: 150, maxRetryDelayMs: 4000,
                       backoff: "exponential"}
        }}
      });
      hlsMenus(hls, Hls, box);
      hls.on(Hls.Events.ERROR, function (event, data) {
        if (data.fatal) {
          unplayable(player, note, "The stream stopped (" + data.details + "): reload the " +
            "page, open the file in a player, or download it.");
          hls.destroy();
        }
      });
      hls.loadSource(media.hls);
      hls.attachMedia(element);
    };
    document.head.appendChild(script);
  }

  // Plays `media` the way `choice` says; a file the browser claimed and then could not
  // decode ("maybe" is only a guess) goes to HLS, or to the note.
  function play(choice, player, element, media, can) {
    var note = document.getElementById("playback-note");
    var box = document.getElementById("tracks");
    player.setAttribute("data-playback", choice.mode);
    // The element's own tracks make the menus, unless hls.js took over (it makes its own).
    function ownMenus() {
      if (player.getAttribute("data-playback") !== "hls") { elementMenus(element, box); }
    }
    if (choice.mode === "direct") {
      element.addEventListener("loadedmetadata", ownMenus, {once: true});
      element.addEventListener("error", function () {
        element.removeAttribute("src");
        var again = choose({video: media.video, audio: media.audio,
                            subtitles: media.subtitles, hls: media.hls}, can);
        if (again.mode === "none") {
          again.note = again.note.replace(/^This browser cannot decode this file/,
                                          "This browser cannot play the file");
        }
        play(again, player, element, media, can);
      }, {once: true});
      element.src = media.src;
    } else if (choice.mode === "native") {
      // Safari adds the playlist's renditions as tracks, some after the metadata.
      element.addEventListener("loadedmetadata", ownMenus, {once: true});
      [element.audioTracks, element.textTracks].forEach(function (list) {
        if (list && list.addEventListener) { list.addEventListener("addtrack", ownMenus); }
      });
      element.src = media.hls;
    } else if (choice.mode === "hls") {
      playHls(player, element, media, note, box);
    } else {
      unplayable(player, note, choice.note);
    }
  }

  function start() {
    var player = document.querySelector(".player[data-media]");
    if (!player) { return false; }
    var media = JSON.parse(player.getAttribute("data-media"));
    var element = player.querySelector("video, audio");
    var can = browserCan(element);
    play(choose(media, can), player, element, media, can);
    return true;
  }

  var hint = document.getElementById("copy-hint");
  function say(text) { if (hint) { hint.textContent = text; } }

  var probed = start();
  var media = document.querySelector("video, audio");
  if (media && !probed) {
    media.addEventListener("error", function () {
      say("This browser cannot play the file: download it, or open it in a player.");
    });
  }

  var button = document.getElementById("copy-link");
  if (!button) { return; }
  button.addEventListener("click", function () {
    var link = button.getAttribute("data-link");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(function () { say("Link copied."); },
        function () { say(link); });
    } else {
      var field = document.createElement("textarea");
      field.value = link; document.body.appendChild(field); field.select();
      try { document.execCommand("copy"); say("Link copied."); } catch (e) { say(link); }
      document.body.removeChild(field);
    }
  });
}());
