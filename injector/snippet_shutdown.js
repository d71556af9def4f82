// caddy-intercom: the small script for an anonymous page when the browser
// still holds a previous user's Messenger session (ScriptBody with an empty
// UserID and SnippetOptions.Shutdown). It carries no settings and no loader:
// the first function the page (or the widget) assigns to window.Intercom is
// called with 'shutdown' before anything else reaches it, and Salesforce's
// session is cleared once Enhanced Chat is ready. Same build rules as
// snippet.js.
(function () {
  'use strict';
  var w = window;
  var E = {refreshes: 0, refreshFailures: 0, sfAttempts: 0, sfTokens: 0, sfClears: 0, shutdowns: 0, loader: false, log: []};
  try {
    Object.defineProperty(w, '__intercomEdge', {value: E});
  } catch (e) {}
  try {
    var fn;
    var pending = true;
    var deliver = function (f) {
      if (pending && typeof f === 'function') {
        try {
          f('shutdown');
          pending = false;
          E.shutdowns++;
          E.log.push('shutdown');
        } catch (e) {
          E.log.push('error:shutdown');
        }
      }
    };
    var prev = w.Intercom;
    if (typeof prev === 'function') {
      fn = prev;
      deliver(fn);
    }
    if (pending) {
      Object.defineProperty(w, 'Intercom', {configurable: true, enumerable: true, get: function () {
        return fn;
      }, set: function (v) {
        deliver(v);
        fn = v;
        if (!pending) {
          // Done: back to a plain property, the page sees no difference.
          Object.defineProperty(w, 'Intercom', {configurable: true, enumerable: true, writable: true, value: v});
        }
      }});
    }
    var cleared = false;
    w.addEventListener('onEmbeddedMessagingReady', function () {
      try {
        var b = w.embeddedservice_bootstrap;
        var api = b && b.userVerificationAPI;
        if (!cleared && api && typeof api.clearSession === 'function') {
          cleared = true;
          api.clearSession(true);
          E.sfClears++;
          E.log.push('sf:clear');
        }
      } catch (e) {
        E.log.push('error:sf:clear');
      }
    });
  } catch (e) {
    E.log.push('error:init');
  }
})();
