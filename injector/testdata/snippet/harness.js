// Behaviour harness for the identity snippet (run by snippet_node_test.go).
//
// stdin: {"body": "<ScriptBody output>", "scenario": "<name>", "params": {...}}
// stdout: one JSON object with what the fakes recorded; the Go test asserts.
//
// The snippet runs in Node's real global object (vm.runInThisContext), so
// accessor properties on the global, top-level `var` declarations and strict
// mode behave as in a browser. The fakes: window events, a document with
// script elements, a virtual clock with setTimeout, fetch, a stub Intercom
// widget that replays the loader queue and records every call, and a stub
// Salesforce embeddedservice_bootstrap.
'use strict';

const vm = require('vm');
const fs = require('fs');

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const P = input.params || {};
const g = globalThis;

// ---- clock and timers ----
let now = 1700000000000;
const realSetImmediate = setImmediate;
Date.now = () => now;
let timerSeq = 0;
let timers = [];
g.setTimeout = (fn, ms) => {
  const id = ++timerSeq;
  timers.push({id, at: now + Math.max(0, Number(ms) || 0), fn});
  return id;
};
g.clearTimeout = (id) => {
  timers = timers.filter((t) => t.id !== id);
};
async function flush() {
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => realSetImmediate(r));
  }
}
// advance runs every timer due within ms, in time order, settling promises
// after each, then leaves the clock at now+ms.
async function advance(ms) {
  const end = now + ms;
  await flush();
  for (;;) {
    const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id);
    if (due.length === 0) break;
    const t = due[0];
    timers = timers.filter((x) => x !== t);
    now = Math.max(now, t.at);
    try {
      t.fn();
    } catch (e) {
      errors.push('timer: ' + e);
    }
    await flush();
  }
  now = end;
}

// ---- events ----
const errors = [];
function eventTarget(obj) {
  const listeners = {};
  obj.addEventListener = (type, fn) => {
    (listeners[type] = listeners[type] || []).push(fn);
  };
  obj.removeEventListener = (type, fn) => {
    listeners[type] = (listeners[type] || []).filter((f) => f !== fn);
  };
  obj.__dispatch = (type) => {
    for (const fn of (listeners[type] || []).slice()) {
      try {
        fn({type});
      } catch (e) {
        errors.push('listener ' + type + ': ' + e);
      }
    }
  };
}
g.window = g;
eventTarget(g);
// The page's origin; the endpoint is fetched from it whatever <base> says.
g.location = {origin: 'https://app.example.test', href: 'https://app.example.test/page'};
const dispatch = (type) => g.__dispatch(type);

// ---- document ----
class El {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.attrs = {};
    this.parentNode = null;
    // Like a browser's: a script inserted by script is async.
    this.async = true;
  }
  setAttribute(k, v) {
    this.attrs[k] = String(v);
  }
  getAttribute(k) {
    return k in this.attrs ? this.attrs[k] : null;
  }
}
const head = new El('head');
const scripts = [];
const inserted = [];
head.insertBefore = (el, ref) => {
  el.parentNode = head;
  const i = scripts.indexOf(ref);
  scripts.splice(i < 0 ? scripts.length : i, 0, el);
  inserted.push(el);
  return el;
};
head.appendChild = (el) => head.insertBefore(el, null);
head.append = head.appendChild;
const ourScript = new El('script');
ourScript.nonce = P.nonce || '';
ourScript.parentNode = head;
scripts.push(ourScript);
const document = {
  readyState: 'loading',
  visibilityState: 'visible',
  hidden: false,
  currentScript: null,
  head,
  body: null,
  documentElement: head,
  createElement: (tag) => new El(tag),
  getElementsByTagName: (tag) => (tag === 'script' ? scripts.slice() : []),
};
eventTarget(document);
g.document = document;

// ---- Intercom widget stub ----
const calls = [];
// The harness's own JSON, safe from the scenarios that patch the page's.
const jsonParse = JSON.parse;
const jsonStringify = JSON.stringify;
const clone = (v) => (v === undefined ? null : jsonParse(jsonStringify(v)));
let widgetsLoaded = 0;
function runWidget() {
  widgetsLoaded++;
  const prev = g.Intercom;
  const queue = (prev && Array.isArray(prev.q) && prev.q) || [];
  let via = 'queue';
  let booted = false;
  const real = function (method, arg) {
    calls.push({method, arg: clone(arg), via});
    if (method === 'boot') {
      booted = true;
      real.booted = true;
    }
    if (method === 'shutdown') {
      real.booted = false;
    }
  };
  real.booted = false;
  g.Intercom = real;
  for (const args of queue) {
    real.apply(null, Array.from(args));
  }
  // Like the real widget: without a queued boot it boots from intercomSettings.
  if (!booted && g.intercomSettings && g.intercomSettings.app_id) {
    calls.push({method: 'boot', arg: clone(g.intercomSettings), via: 'auto'});
    real.booted = true;
  }
  via = 'live';
}
function loadWidgets() {
  for (const s of inserted) {
    if (!s.loaded && String(s.src).indexOf('https://widget.intercom.io/widget/') === 0) {
      s.loaded = true;
      runWidget();
    }
  }
}
const officialLoader = (appID) =>
  "(function(){var w=window;var ic=w.Intercom;if(typeof ic===\"function\"){ic('update',w.intercomSettings);}else{var d=document;var i=function(){i.c(arguments);};i.q=[];i.c=function(args){i.q.push(args);};w.Intercom=i;var l=function(){var s=d.createElement('script');s.type='text/javascript';s.async=true;s.src='https://widget.intercom.io/widget/' + '" +
  appID +
  "';var x=d.getElementsByTagName('script')[0];x.parentNode.insertBefore(s, x);};if(document.readyState==='complete'){l();}else if(w.attachEvent){w.attachEvent('onload',l);}else{w.addEventListener('load',l,false);}}})();";

// ---- fetch stub ----
const fetches = [];
let responder = () => ({status: 500});
g.fetch = (url, init) => {
  fetches.push({url, init: clone(init), at: now});
  const r = responder(fetches.length);
  if (r === 'neterr') {
    return Promise.reject(new TypeError('Failed to fetch'));
  }
  return Promise.resolve({
    status: r.status,
    ok: r.status >= 200 && r.status < 300,
    headers: {get: (n) => (String(n).toLowerCase() === 'date' ? new Date(now).toUTCString() : null)},
    json: () => Promise.resolve(r.body),
    text: () => Promise.resolve(jsonStringify(r.body)),
  });
};
const tokenResponse = (n, extra) =>
  Object.assign(
    {
      app_id: P.app_id,
      api_base: P.api_base,
      user_id: P.user_id,
      intercom_user_jwt: 'jwt-' + n,
      expires_at: Math.floor(now / 1000) + 100,
    },
    extra || {}
  );

// ---- Salesforce stub ----
const sf = [];
function installSF(rejectFirst) {
  let sets = 0;
  g.embeddedservice_bootstrap = {
    userVerificationAPI: {
      setIdentityToken(o) {
        sets++;
        sf.push({method: 'setIdentityToken', arg: clone(o)});
        // A rejected token makes Salesforce fire the expiry event again at once.
        if (sets <= rejectFirst) dispatch('onEmbeddedMessagingIdentityTokenExpired');
      },
      clearSession(b) {
        sf.push({method: 'clearSession', arg: b});
        // Salesforce fires ready again after clearing.
        dispatch('onEmbeddedMessagingReady');
      },
    },
  };
}

// ---- running code ----
function page(code) {
  try {
    vm.runInThisContext(code, {filename: 'page.js'});
  } catch (e) {
    errors.push('page: ' + e);
  }
}
function runOurs() {
  document.currentScript = ourScript;
  try {
    vm.runInThisContext(input.body, {filename: 'snippet.js'});
  } catch (e) {
    errors.push('snippet threw: ' + e);
  }
  document.currentScript = null;
}
async function fireLoad() {
  document.readyState = 'complete';
  dispatch('load');
  await advance(0);
}
const extra = {};

const scenarios = {
  // The page assigns its own settings after us, then tries to change them.
  async settings_after() {
    runOurs();
    extra.initial = clone(g.intercomSettings);
    page("window.intercomSettings = {app_id: 'forged', user_id: 'forged', intercom_user_jwt: 'forged', custom: 'keep'};");
    page("'use strict'; window.intercomSettings.user_id = 'x'; intercomSettings.intercom_user_jwt = 'y'; intercomSettings.other = 1;");
    // The trusted keys are non-configurable: a strict-mode delete throws.
    page("'use strict'; try { delete intercomSettings.user_id; } catch (e) { window.__deleteThrew = e instanceof TypeError; } intercomSettings.user_id = 'z';");
    extra.deleteThrew = g.__deleteThrew === true;
    extra.heldAfterDelete = clone(g.intercomSettings);
  },
  // The page keeps a reference to the object it assigned and reads from it.
  async settings_reference() {
    runOurs();
    page("'use strict'; var held = {user_id: 'forged', custom: 'held'}; window.intercomSettings = held; held.user_id = 'again'; window.__heldUserID = held.user_id;");
    extra.heldUserID = g.__heldUserID;
  },
  // A classic top-level `var intercomSettings = ...` (the install docs' form).
  async settings_var() {
    runOurs();
    page("var intercomSettings = {user_id: 'forged', custom: 'keep'};");
    const d = Object.getOwnPropertyDescriptor(g, 'intercomSettings');
    extra.stillAccessor = !!(d && typeof d.get === 'function');
  },
  // The page (or something) set intercomSettings before our script ran.
  async settings_before() {
    page("window.intercomSettings = {user_id: 'forged', user_hash: 'forged', custom: 'keep'};");
    runOurs();
  },
  async settings_frozen() {
    runOurs();
    page("'use strict'; window.intercomSettings = Object.freeze({user_id: 'forged', custom: 'keep'});");
    page("'use strict'; Object.freeze(window.intercomSettings); intercomSettings.user_id = 'x';");
  },
  // SPA style: the page's loader queue, boot and updates, then the widget.
  async boot_update() {
    runOurs();
    page("window.intercomSettings = {app_id: 'forged', custom: 'page'};");
    page(officialLoader(P.app_id));
    page("Intercom('boot', {app_id: 'forged', user_id: 'forged', intercom_user_jwt: 'forged', custom: 1}); Intercom('update', {custom: 2}); Intercom('update');");
    extra.typeofBefore = typeof g.Intercom;
    extra.queued = g.Intercom.q.length;
    extra.sameProxy = g.Intercom === g.Intercom;
    await fireLoad();
    loadWidgets();
    page("'use strict'; Intercom('update', {custom: 3}); Intercom.call(null, 'boot', {user_id: 'forged2'}); Intercom('show');");
    extra.typeofAfter = typeof g.Intercom;
    extra.booted = g.Intercom.booted;
  },
  async loader_none() {
    runOurs();
    await fireLoad();
    extra.typeofAfterLoad = typeof g.Intercom;
    loadWidgets();
  },
  async loader_page_has() {
    runOurs();
    page(officialLoader(P.app_id));
    await fireLoad();
    loadWidgets();
  },
  // The page sets Intercom up in its own load handler: still its loader.
  async loader_page_on_load() {
    runOurs();
    page("window.addEventListener('load', function () {" + officialLoader(P.app_id) + '});');
    await fireLoad();
    loadWidgets();
  },
  async loader_off() {
    runOurs();
    await fireLoad();
    loadWidgets();
  },
  async refresh() {
    responder = (n) => ({status: 200, body: tokenResponse(n + 1)});
    runOurs();
    page(officialLoader(P.app_id));
    await fireLoad();
    loadWidgets();
    await advance(P.refresh_ms - 1);
    extra.fetchesBeforeDue = fetches.length;
    await advance(1);
    extra.fetchesAtDue = fetches.length;
    extra.settingsAfterFirst = clone(g.intercomSettings);
    // expires_at is 100 s after the fetch: next refresh at 80 s.
    await advance(79000);
    extra.fetchesAt79s = fetches.length;
    await advance(2000);
    extra.fetchesAt81s = fetches.length;
  },
  async refresh_401() {
    responder = () => ({status: 401, body: {error: 'not_identified'}});
    installSF(0);
    runOurs();
    page(officialLoader(P.app_id));
    await fireLoad();
    loadWidgets();
    dispatch('onEmbeddedMessagingReady');
    await advance(P.refresh_ms);
    await advance(3600 * 1000);
    page("Intercom('boot', {app_id: 'x'});");
  },
  async refresh_neterr() {
    responder = () => 'neterr';
    runOurs();
    await advance(10 * 3600 * 1000);
  },
  async refresh_recover() {
    responder = (n) => (n === 1 ? {status: 502} : n === 2 ? 'neterr' : {status: 200, body: tokenResponse(n)});
    runOurs();
    page(officialLoader(P.app_id));
    await fireLoad();
    loadWidgets();
    await advance(P.refresh_ms + 2000 + 4000);
    extra.fetchesAfterRecover = fetches.length;
    await advance(81000);
  },
  // The endpoint answers for another user (switched in another tab).
  async refresh_user_changed() {
    responder = (n) => ({status: 200, body: tokenResponse(n, {user_id: 'someone-else'})});
    runOurs();
    page(officialLoader(P.app_id));
    await fireLoad();
    loadWidgets();
    await advance(P.refresh_ms);
    await advance(3600 * 1000);
  },
  async sf_retry() {
    // Tokens for an hour: no regular refresh while Salesforce asks.
    responder = (n) => ({
      status: 200,
      body: tokenResponse(n, {salesforce_identity_token: 'sf-' + n, expires_at: Math.floor(now / 1000) + 3600}),
    });
    installSF(3);
    runOurs();
    dispatch('onEmbeddedMessagingReady');
    dispatch('onEmbeddedMessagingIdentityTokenExpired');
    await advance(0);
    extra.fetchesAfterStorm = fetches.length;
    await advance(30000);
    dispatch('onEmbeddedMessagingIdentityTokenExpired');
    await advance(0);
    extra.fetchesWhileNoisy = fetches.length;
    await advance(61000);
    dispatch('onEmbeddedMessagingIdentityTokenExpired');
    await advance(0);
    extra.fetchesAfterQuiet = fetches.length;
  },
  async sf_no_endpoint() {
    installSF(1);
    runOurs();
    dispatch('onEmbeddedMessagingReady');
    dispatch('onEmbeddedMessagingIdentityTokenExpired');
    await advance(120000);
    dispatch('onEmbeddedMessagingIdentityTokenExpired');
    await advance(0);
  },
  async shutdown_before_boot() {
    installSF(0);
    runOurs();
    page(officialLoader(P.app_id));
    page("Intercom('boot', {app_id: 'forged', custom: 1});");
    await fireLoad();
    loadWidgets();
    dispatch('onEmbeddedMessagingReady');
  },
  async shutdown_loader() {
    runOurs();
    await fireLoad();
    loadWidgets();
  },
  // Anonymous page with a stale session: only the shutdown script.
  async shutdown_only() {
    installSF(0);
    runOurs();
    extra.settingsBefore = g.intercomSettings === undefined ? 'undefined' : clone(g.intercomSettings);
    page("window.intercomSettings = {app_id: 'page'};");
    page(officialLoader('page'));
    page("Intercom('boot', {app_id: 'page'});");
    const d = Object.getOwnPropertyDescriptor(g, 'Intercom');
    extra.plainProperty = !!(d && 'value' in d && d.writable);
    await fireLoad();
    loadWidgets();
    dispatch('onEmbeddedMessagingReady');
  },
  // The refresh answers with more than the tokens present at boot.
  async refresh_widen() {
    responder = (n) => ({
      status: 200,
      body: tokenResponse(n + 1, {
        app_id: 'evil-app',
        api_base: 'https://evil.example',
        user_hash: 'evil-hash',
        salesforce_identity_token: 'evil-sf',
        email: 'evil@example.com',
        custom: 'evil',
      }),
    });
    runOurs();
    page(officialLoader(P.app_id));
    await fireLoad();
    loadWidgets();
    await advance(P.refresh_ms);
  },
  // Page code tries to replace the settings and the function themselves.
  async redefine() {
    runOurs();
    const tries = {};
    const attempt = (name, code) => {
      try {
        vm.runInThisContext(code);
        tries[name] = 'done';
      } catch (e) {
        tries[name] = e instanceof TypeError ? 'TypeError' : String(e);
      }
    };
    attempt('defineSettings', "Object.defineProperty(window, 'intercomSettings', {value: {app_id: 'x', user_id: 'evil'}, writable: true});");
    attempt('deleteSettings', "'use strict'; delete window.intercomSettings;");
    attempt('defineIntercom', "Object.defineProperty(window, 'Intercom', {value: function () {}, writable: true});");
    attempt('deleteIntercom', "'use strict'; delete window.Intercom;");
    page("window.intercomSettings = {user_id: 'evil', email: 'evil@example.com', custom: 'keep'};");
    attempt('defineKey', "Object.defineProperty(window.intercomSettings, 'user_id', {value: 'evil'});");
    const d = (o, k) => {
      const x = Object.getOwnPropertyDescriptor(o, k);
      return x ? {configurable: x.configurable, accessor: typeof x.get === 'function'} : null;
    };
    extra.descriptors = {
      intercomSettings: d(g, 'intercomSettings'),
      Intercom: d(g, 'Intercom'),
      user_id: d(g.intercomSettings, 'user_id'),
    };
    extra.tries = tries;
    page(officialLoader(P.app_id));
    page("Intercom('boot', {app_id: 'x', user_id: 'evil', email: 'evil@example.com', name: 'Evil'});");
    await fireLoad();
    loadWidgets();
  },
  // The page assigns a Proxy whose get trap lies about the identity; the
  // widget boots from window.intercomSettings.
  async settings_proxy() {
    runOurs();
    page(`window.intercomSettings = new Proxy({custom: 'keep'}, {
      get: function (t, k) { return k === 'user_id' ? 'evil' : k === 'intercom_user_jwt' ? 'forged' : t[k]; },
      defineProperty: function () { return true; }
    });`);
    page(`var held = {custom: 'held'}; window.intercomSettings = new Proxy(held, {
      get: function (t, k) { return k === 'user_id' ? 'evil' : Reflect.get(t, k); }
    }); window.__heldUserID = held.user_id;`);
    extra.heldUserID = g.__heldUserID;
    page(officialLoader(P.app_id));
    await fireLoad();
    loadWidgets();
  },
  // Page code pushes a forged boot straight into the loader's queue, past
  // the function (window.Intercom.q, or its own loader's queue).
  async queue_push() {
    runOurs();
    page(officialLoader(P.app_id));
    // Through window.Intercom the page only ever sees a copy of the queue.
    page("Intercom.q.push(['boot', {app_id: 'x', user_id: 'evil', intercom_user_jwt: 'forged'}]);");
    extra.queuedThroughProxy = g.Intercom.q.length;
    // Its own loader's function, kept in the page's closure, is the real one.
    page("var own = function () { own.q.push(arguments); }; own.q = []; window.Intercom = own;" +
      "own.q.push(['boot', {app_id: 'x', user_id: 'evil', intercom_user_jwt: 'forged', custom: 1}]);" +
      "own.q.push({0: 'update', 1: {user_id: 'evil'}, length: 2});");
    extra.queued = g.Intercom.q.length;
    await fireLoad();
    loadWidgets();
  },
  // Boot arguments that are Proxies lying about what they hold, or throwing
  // where the snippet looks.
  async boot_proxy() {
    runOurs();
    page(officialLoader(P.app_id));
    page(`Intercom('boot', new Proxy({user_id: 'evil', custom: 1}, {
      get: function (t, k) { if (k === Symbol.toStringTag) throw new Error('no'); return t[k]; }
    }));
    Intercom('update', new Proxy({custom: 2}, {get: function (t, k) { return k === 'user_id' ? 'evil' : t[k]; }}));
    var n = 0;
    Intercom({toString: function () { return n++ ? 'boot' : 'show'; }}, {user_id: 'evil'});`);
    await fireLoad();
    loadWidgets();
  },
  // Setters and descriptor fields on Object.prototype, patched built-ins.
  async prototype_traps() {
    const saved = {apply: Reflect.apply, define: Object.defineProperty, keys: Object.keys, parse: JSON.parse,
      iterator: Array.prototype[Symbol.iterator]};
    runOurs();
    page(officialLoader(P.app_id));
    page(`
      window.__stolen = [];
      ['user_id', 'intercom_user_jwt', 'app_id'].forEach(function (k) {
        Object.defineProperty(Object.prototype, k, {configurable: true, get: function () { return 'evil'; },
          set: function (v) { window.__stolen.push(k); }});
      });
      Object.defineProperty(Object.prototype, 'get', {configurable: true, writable: true, value: function () { return 'evil'; }});
      var realApply = Reflect.apply;
      Reflect.apply = function (t, self, args) {
        if (args && args[1] && typeof args[1] === 'object') { try { Object.defineProperty(args[1], 'user_id', {value: 'evil', enumerable: true}); } catch (e) {} }
        return realApply(t, self, args);
      };
      Object.defineProperty = function (o) { return o; };
      Object.keys = function () { return []; };
      var realIterator = Array.prototype[Symbol.iterator];
      Array.prototype[Symbol.iterator] = function () { return realIterator.call([]); };
      JSON.parse = function () { return {user_id: 'evil'}; };
      window.intercomSettings = {custom: 'keep'};
      Intercom('boot', {app_id: 'x', custom: 1});
    `);
    // The harness's widget stub iterates arrays too.
    Array.prototype[Symbol.iterator] = saved.iterator;
    await fireLoad();
    loadWidgets();
    page("Intercom('update', {custom: 2});");
    extra.stolen = g.__stolen;
    // Undo, so the harness's own JSON and arrays work again.
    for (const k of ['user_id', 'intercom_user_jwt', 'app_id', 'get']) delete Object.prototype[k];
    Reflect.apply = saved.apply;
    Object.defineProperty = saved.define;
    Object.keys = saved.keys;
    JSON.parse = saved.parse;
  },
  // An SPA logs out without a reload: shutdown, then an anonymous boot.
  async page_shutdown() {
    responder = (n) => ({status: 200, body: tokenResponse(n + 1)});
    runOurs();
    page(officialLoader(P.app_id));
    page("Intercom('boot', {app_id: 'x', custom: 1});");
    await fireLoad();
    loadWidgets();
    page("Intercom('shutdown'); window.intercomSettings = {app_id: 'x', user_id: 'next-user'}; Intercom('boot', {app_id: 'x'}); Intercom('update', {user_id: 'next-user'});");
    extra.settingsAfterShutdown = clone(g.intercomSettings);
    await advance(P.refresh_ms + 3600 * 1000);
  },
  // Odd values and a page-defined Intercom function: nothing throws.
  async hostile() {
    runOurs();
    page("'use strict'; window.intercomSettings = null; window.intercomSettings = 5; window.Intercom = 'x'; window.Intercom = null;");
    extra.settingsAfterNull = clone(g.intercomSettings);
    page("'use strict'; window.pageCalls = []; window.Intercom = function (m, a) { window.pageCalls.push([m, a === undefined ? null : JSON.parse(JSON.stringify(a))]); };");
    page("'use strict'; Intercom('boot', null); Intercom('update', 'str'); Intercom('update', [1, 2]); var f = window.Intercom; window.Intercom = f; Intercom('trackEvent', 'x');");
    extra.pageCalls = g.pageCalls;
  },
};

(async () => {
  try {
    const run = scenarios[input.scenario];
    if (!run) throw new Error('unknown scenario ' + input.scenario);
    await run();
    await flush();
  } catch (e) {
    errors.push('harness: ' + (e && e.stack ? e.stack : e));
  }
  const desc = Object.getOwnPropertyDescriptor(g, '__intercomEdge');
  const out = {
    calls,
    fetches,
    sf,
    scripts: inserted.map((s) => ({src: s.src, nonce: s.nonce || '', async: !!s.async})),
    widgets: widgetsLoaded,
    settings: g.intercomSettings === undefined ? null : clone(g.intercomSettings),
    typeofIntercom: typeof g.Intercom,
    edge: desc ? clone(desc.value) : null,
    errors,
    extra,
  };
  process.stdout.write(JSON.stringify(out));
})();
