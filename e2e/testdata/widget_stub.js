// Stub Intercom Messenger widget for the browser tests. The test serves it,
// through the DevTools Fetch domain, in place of
// https://widget.intercom.io/widget/<app_id>, with the APP_ID placeholder
// below replaced by the app id (a JSON string) taken from that URL.
//
// It behaves like the real widget where the edge depends on it:
//   - it replaces window.Intercom with its own function and replays the
//     loader's queue (window.Intercom.q) in order;
//   - when no 'boot' was queued it boots from window.intercomSettings;
//   - a boot with a user_id sets intercom-session-<app_id> on the
//     registrable domain (leading dot), a boot without one sets the
//     visitor cookie intercom-id-<app_id>; 'shutdown' removes the session.
// Every call is recorded, with its argument as the widget received it, in
// window.__stubCalls: {method, arg, via: 'queue'|'auto'|'live', at}.
(function () {
  'use strict';
  var w = window;
  var d = document;
  var APP_ID = __APP_ID__;
  var clone = function (v) {
    return v === undefined ? null : JSON.parse(JSON.stringify(v));
  };
  var calls = w.__stubCalls || (w.__stubCalls = []);
  w.__stubLoads = (w.__stubLoads || 0) + 1;

  // Like the Messenger: cookies go on the registrable domain, so that
  // app.example.test and help.example.test share them.
  var host = location.hostname;
  var domain = '';
  if (host.indexOf('.') > 0 && !/^[0-9.]+$/.test(host)) {
    domain = '; domain=.' + host.split('.').slice(-2).join('.');
  }
  var cookie = function (name, value, maxAge) {
    d.cookie = name + '=' + encodeURIComponent(value) + '; path=/' + domain + '; max-age=' + maxAge + '; samesite=lax';
  };
  var session = 'intercom-session-' + APP_ID;

  var booted = false;
  var boot = function (arg) {
    booted = true;
    real.booted = true;
    if (arg && typeof arg.user_id === 'string' && arg.user_id !== '') {
      cookie(session, 'stub:' + arg.user_id, 604800);
    } else {
      cookie('intercom-id-' + APP_ID, 'stub-visitor', 23328000);
    }
  };
  var via = 'queue';
  var real = function (method, arg) {
    calls.push({method: String(method), arg: clone(arg), via: via, at: Date.now()});
    if (method === 'boot') {
      boot(arg);
    } else if (method === 'shutdown') {
      booted = false;
      real.booted = false;
      cookie(session, '', 0);
    }
  };
  real.booted = false;

  var prev = w.Intercom;
  var queue = prev && Array.isArray(prev.q) ? prev.q : [];
  w.Intercom = real;
  for (var i = 0; i < queue.length; i++) {
    real.apply(null, Array.prototype.slice.call(queue[i]));
  }
  if (!booted && w.intercomSettings && w.intercomSettings.app_id) {
    calls.push({method: 'boot', arg: clone(w.intercomSettings), via: 'auto', at: Date.now()});
    boot(w.intercomSettings);
  }
  via = 'live';
})();
