// caddy-intercom: the identity snippet, injected before the page's first script.
//
// ScriptBody appends "(settings,options);" to this function expression, so
// S = the trusted intercomSettings keys, O = {loader, endpoint, refresh_in, shutdown}.
//
// Build rules (see compactJS in snippet.go): whole-line // comments and
// indentation are stripped, lines are kept (no reliance on ASI surprises).
// So: never put code after // on a line, no /* */ comments, no template
// literals, ASCII only, and never the character sequences that end or
// confuse an HTML script element (less-than followed by ! or / or "script").
(function (S, O) {
  'use strict';
  var w = window;
  var d = document;
  var ours = d.currentScript;
  // Observability for tests and support: counters and a short log, no tokens.
  var E = {refreshes: 0, refreshFailures: 0, sfAttempts: 0, sfTokens: 0, sfClears: 0, shutdowns: 0, loader: false, log: []};
  var log = function (m) {
    try {
      if (E.log.length >= 50) {
        E.log.shift();
      }
      E.log.push(m);
    } catch (e) {}
  };
  try {
    Object.defineProperty(w, '__intercomEdge', {value: E});
  } catch (e) {}
  try {
    var ALL = ['app_id', 'api_base', 'user_id', 'intercom_user_jwt', 'salesforce_identity_token', 'user_hash'];
    var IDENTITY = ['user_id', 'intercom_user_jwt', 'salesforce_identity_token', 'user_hash'];
    // T: trusted values. K: trusted keys. G: one getter per key, always the
    // same function, so re-locking an object already locked changes nothing.
    var T = {};
    var K = [];
    var G = Object.create(null);
    var noop = function () {};
    var trust = function (k, v) {
      if (!G[k]) {
        G[k] = function () {
          return T[k];
        };
        K.push(k);
      }
      T[k] = v;
    };
    var i;
    for (i = 0; i < ALL.length; i++) {
      if (typeof S[ALL[i]] === 'string') {
        trust(ALL[i], S[ALL[i]]);
      }
    }
    var isObj = function (v) {
      return v !== null && typeof v === 'object' && Object.prototype.toString.call(v) === '[object Object]';
    };
    var copy = function (o) {
      var c = {};
      var ks = [];
      try {
        ks = Object.keys(o);
      } catch (e) {}
      for (var j = 0; j < ks.length; j++) {
        try {
          c[ks[j]] = o[ks[j]];
        } catch (e) {}
      }
      return c;
    };
    var accessor = function (name, get, set) {
      Object.defineProperty(w, name, {configurable: true, enumerable: true, get: get, set: set});
    };

    // ---- window.intercomSettings: the page's keys, the trusted keys win ----
    // Trusted keys become accessors that read T and ignore writes (no throw
    // in strict mode). Configurable, so a page that deletes and re-adds one
    // is corrected the next time anybody reads window.intercomSettings.
    var lock = function (o) {
      for (var j = 0; j < K.length; j++) {
        var p = Object.getOwnPropertyDescriptor(o, K[j]);
        if (!p || p.get !== G[K[j]]) {
          Object.defineProperty(o, K[j], {configurable: true, enumerable: true, get: G[K[j]], set: noop});
        }
      }
      return o;
    };
    var adopt = function (v) {
      var o = isObj(v) ? v : {};
      try {
        return lock(o);
      } catch (e) {
        // frozen or sealed: keep a locked copy instead
        return lock(copy(o));
      }
    };
    var own = adopt(w.intercomSettings);
    var settings = function () {
      try {
        lock(own);
      } catch (e) {
        own = lock(copy(own));
      }
      return own;
    };
    try {
      accessor('intercomSettings', settings, function (v) {
        own = adopt(v);
      });
    } catch (e) {
      log('error:settings');
      try {
        w.intercomSettings = own;
      } catch (e2) {}
    }

    // ---- window.Intercom: every boot/update carries the trusted identity ----
    // fn is the raw function last assigned (loader queue, widget, ours);
    // the getter hands out one Proxy per function, so .q, .c, .booted and
    // typeof still reach the target.
    var fn;
    var pending = !!O.shutdown;
    var P = new WeakMap();
    var R = new WeakMap();
    var deliver = function (f) {
      if (pending && typeof f === 'function') {
        try {
          f('shutdown');
          pending = false;
          E.shutdowns++;
          log('shutdown');
        } catch (e) {
          log('error:shutdown');
        }
      }
    };
    var merged = function (a) {
      var o = isObj(a) ? copy(a) : {};
      for (var j = 0; j < K.length; j++) {
        if (T[K[j]] !== undefined) {
          o[K[j]] = T[K[j]];
        }
      }
      return o;
    };
    var fix = function (args) {
      if (args[0] !== 'boot' && args[0] !== 'update') {
        return args;
      }
      var a = Array.prototype.slice.call(args);
      a[1] = merged(args[1]);
      return a;
    };
    var wrap = function (f) {
      if (typeof f !== 'function') {
        return f;
      }
      var p = P.get(f);
      if (!p) {
        p = new Proxy(f, {apply: function (t, self, args) {
          var a = args;
          try {
            deliver(t);
            a = fix(args);
          } catch (e) {
            log('error:fix');
          }
          return Reflect.apply(t, self, a);
        }});
        P.set(f, p);
        R.set(p, f);
      }
      return p;
    };
    var setFn = function (v) {
      if (R.has(v)) {
        v = R.get(v);
      }
      deliver(v);
      fn = v;
    };
    var call = function (m, a) {
      try {
        if (typeof fn === 'function') {
          wrap(fn)(m, a);
          return true;
        }
      } catch (e) {
        log('error:' + m);
      }
      return false;
    };
    var prev = w.Intercom;
    if (typeof prev === 'function') {
      setFn(prev);
    }
    try {
      accessor('Intercom', function () {
        return wrap(fn);
      }, setFn);
    } catch (e) {
      log('error:intercom');
    }

    // ---- loader: the standard Messenger loader when the page has none ----
    if (O.loader) {
      var install = function () {
        if (typeof fn === 'function') {
          return;
        }
        var q = function () {
          q.c(arguments);
        };
        q.q = [];
        q.c = function (a) {
          q.q.push(a);
        };
        w.Intercom = q;
        var s = d.createElement('script');
        s.type = 'text/javascript';
        s.async = true;
        s.src = 'https://widget.intercom.io/widget/' + encodeURIComponent(T.app_id || '');
        var n = ours && (ours.nonce || (ours.getAttribute && ours.getAttribute('nonce')));
        if (n) {
          s.nonce = n;
          s.setAttribute('nonce', n);
        }
        var x = d.getElementsByTagName('script')[0];
        if (x && x.parentNode) {
          x.parentNode.insertBefore(s, x);
        } else {
          (d.head || d.body || d.documentElement).appendChild(s);
        }
        E.loader = true;
        log('loader');
      };
      // After the page's own load handlers, so a page that sets Intercom up
      // in its own load handler keeps its loader.
      var later = function () {
        w.setTimeout(function () {
          try {
            install();
          } catch (e) {
            log('error:loader');
          }
        }, 0);
      };
      if (d.readyState === 'complete') {
        later();
      } else {
        w.addEventListener('load', later);
      }
    }

    // ---- Salesforce Enhanced Chat ----
    var sfReady = false;
    var sfClearPending = !!O.shutdown;
    var sfApi = function () {
      var b = w.embeddedservice_bootstrap;
      return (b && b.userVerificationAPI) || null;
    };
    var sfClear = function () {
      try {
        var api = sfApi();
        if (api && typeof api.clearSession === 'function') {
          api.clearSession(true);
          E.sfClears++;
          log('sf:clear');
        }
      } catch (e) {
        log('error:sf:clear');
      }
    };
    var sfSet = function (tok) {
      try {
        var api = sfApi();
        if (tok && api && typeof api.setIdentityToken === 'function') {
          api.setIdentityToken({identityTokenType: 'JWT', identityToken: tok});
          E.sfTokens++;
          log('sf:token');
        }
      } catch (e) {
        log('error:sf:token');
      }
    };
    w.addEventListener('onEmbeddedMessagingReady', function () {
      sfReady = true;
      if (sfClearPending) {
        sfClearPending = false;
        sfClear();
      }
    });

    // ---- token endpoint: refresh, logout ----
    var ep = O.endpoint;
    var dead = false;
    var logout = function (why) {
      if (dead) {
        return;
      }
      dead = true;
      stop();
      for (var j = 0; j < IDENTITY.length; j++) {
        if (G[IDENTITY[j]]) {
          T[IDENTITY[j]] = undefined;
        }
      }
      log('logout:' + why);
      pending = true;
      deliver(fn);
      if (sfReady) {
        sfClear();
      } else {
        sfClearPending = true;
      }
    };
    // Resolves to {out: true} on 401, or {data, now} (now = the server's
    // clock from the Date header, so a skewed client clock does not matter).
    var get = function () {
      return w.fetch(ep, {credentials: 'same-origin', cache: 'no-store', headers: {Accept: 'application/json'}}).then(function (r) {
        if (r.status === 401) {
          return {out: true};
        }
        if (r.status !== 200) {
          throw new Error('status ' + r.status);
        }
        var now = NaN;
        try {
          now = Date.parse(r.headers.get('Date') || '');
        } catch (e) {}
        return r.json().then(function (j) {
          if (!isObj(j) || typeof j.user_id !== 'string') {
            throw new Error('bad response');
          }
          return {data: j, now: isFinite(now) ? now : Date.now()};
        });
      });
    };
    // Takes the fresh values; false when the endpoint names another user
    // (the user switched in another tab): this page is then logged out.
    var apply = function (j) {
      if (j.user_id !== T.user_id) {
        logout('user');
        return false;
      }
      for (var j2 = 0; j2 < ALL.length; j2++) {
        var v = j[ALL[j2]];
        if (typeof v === 'string' && v !== '') {
          trust(ALL[j2], v);
        }
      }
      settings();
      return true;
    };
    var timer = null;
    var due = 0;
    var busy = false;
    var fails = 0;
    var stop = function () {
      if (timer !== null) {
        w.clearTimeout(timer);
        timer = null;
      }
    };
    var schedule = function (ms) {
      stop();
      if (dead) {
        return;
      }
      ms = Math.max(1000, Math.min(ms, 86400000));
      due = Date.now() + ms;
      timer = w.setTimeout(refresh, ms);
    };
    var fail = function (why) {
      E.refreshFailures++;
      fails++;
      log('refresh:fail:' + why);
      if (fails > 5) {
        log('refresh:stop');
        return;
      }
      schedule(Math.min(60000, 2000 * Math.pow(2, fails - 1)));
    };
    var refresh = function () {
      timer = null;
      if (dead || busy) {
        return;
      }
      busy = true;
      get().then(function (r) {
        busy = false;
        if (r.out) {
          logout('401');
          return;
        }
        var left = Number(r.data.expires_at) * 1000 - r.now;
        if (!(left > 0)) {
          fail('expired');
          return;
        }
        var sf = T.salesforce_identity_token;
        if (!apply(r.data)) {
          return;
        }
        fails = 0;
        E.refreshes++;
        log('refresh:ok');
        var u = {};
        if (T.intercom_user_jwt) {
          u.intercom_user_jwt = T.intercom_user_jwt;
        }
        call('update', u);
        if (sfReady && T.salesforce_identity_token !== sf) {
          sfSet(T.salesforce_identity_token);
        }
        schedule(left * 0.8);
      }, function () {
        busy = false;
        fail('network');
      });
    };
    var canFetch = ep && typeof w.fetch === 'function';
    if (canFetch) {
      schedule(O.refresh_in);
      // Timers stall while a laptop sleeps: catch up when the page shows again.
      d.addEventListener('visibilitychange', function () {
        if (d.visibilityState === 'visible' && timer !== null && Date.now() >= due) {
          stop();
          refresh();
        }
      });
    }

    // Salesforce asks for a new token; a rejected token makes it ask again
    // at once, so at most 3 attempts until it has been quiet for 60 s.
    var sfN = 0;
    var sfLast = -Infinity;
    var sfBusy = false;
    var sfUsed = false;
    if (T.salesforce_identity_token) {
      w.addEventListener('onEmbeddedMessagingIdentityTokenExpired', function () {
        try {
          var now = Date.now();
          if (now - sfLast > 60000) {
            sfN = 0;
          }
          sfLast = now;
          if (dead || sfBusy) {
            return;
          }
          if (!canFetch) {
            if (!sfUsed) {
              sfUsed = true;
              E.sfAttempts++;
              sfSet(T.salesforce_identity_token);
            }
            return;
          }
          if (sfN >= 3) {
            log('sf:cap');
            return;
          }
          sfN++;
          E.sfAttempts++;
          log('sf:attempt');
          sfBusy = true;
          get().then(function (r) {
            sfBusy = false;
            if (r.out) {
              logout('401');
            } else if (apply(r.data)) {
              sfSet(T.salesforce_identity_token);
            }
          }, function () {
            sfBusy = false;
            log('sf:fail');
          });
        } catch (e) {
          log('error:sf');
        }
      });
    }
  } catch (e) {
    log('error:init');
  }
})
