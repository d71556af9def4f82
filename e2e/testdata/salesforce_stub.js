// Stub Salesforce Enhanced Chat bootstrap (embeddedservice_bootstrap) for the
// browser tests, served through the DevTools Fetch domain in place of
// https://e2e.my.site.com/.../bootstrap.min.js.
//
// It records userVerificationAPI calls in window.__sfCalls:
// {method: 'init'|'setIdentityToken'|'clearSession', arg, at}.
// The test fires onEmbeddedMessagingReady and
// onEmbeddedMessagingIdentityTokenExpired itself (window events, as
// Salesforce does). With window.__sfMode = 'reject', setIdentityToken turns
// the token down the way Salesforce does: it fires the expiry event again at
// once, which is what makes a retry cap necessary.
(function () {
  'use strict';
  var w = window;
  var clone = function (v) {
    return v === undefined ? null : JSON.parse(JSON.stringify(v));
  };
  var calls = w.__sfCalls || (w.__sfCalls = []);
  var record = function (method, arg) {
    calls.push({method: method, arg: clone(arg), at: Date.now()});
  };
  w.embeddedservice_bootstrap = {
    settings: {},
    init: function (orgId, name, url, opts) {
      record('init', {orgId: orgId, name: name, url: url});
    },
    userVerificationAPI: {
      setIdentityToken: function (o) {
        record('setIdentityToken', o);
        if (w.__sfMode === 'reject') {
          w.dispatchEvent(new Event('onEmbeddedMessagingIdentityTokenExpired'));
        }
        return Promise.resolve();
      },
      clearSession: function (b) {
        record('clearSession', b);
        return Promise.resolve();
      }
    }
  };
})();
