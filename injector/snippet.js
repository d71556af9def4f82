// caddy-intercom: the identity snippet, injected before the page's first
// script. It hands the page window.intercomSettings with the identity the
// edge signed, and keeps that identity authoritative whatever the page's own
// code does (the contract: ScriptBody in snippet.go).
//
// This is source, not what ships: `go generate ./injector` bundles it with
// snippet_common.js and minifies it with esbuild (tools/snippet/build.mjs)
// into snippet_gen.json, once per combination of the compile-time features
// below, so that a page carries only the code it can run:
//
//   LOADER      install the standard Messenger loader if the page has none
//   REFRESH     refresh the tokens from the token endpoint before they expire
//   SALESFORCE  hand Salesforce Enhanced Chat fresh identity tokens
//   SHUTDOWN    end a previous user's Messenger session before any boot
//
// SETTINGS and OPTIONS are placeholders: ScriptBody writes two JSON objects
// in their place (the trusted intercomSettings keys, and
// {path, refresh_in}: the token endpoint and the first refresh's delay).
import {
  accessor,
  applyFunction,
  clearSalesforceSoon,
  defineProperty,
  edge as edgeRecord,
  deliverShutdown,
  isFunction,
  salesforceReady,
  log,
  on,
  oops,
  publishEdge,
  requestShutdown,
  salesforceVerification,
  setOwn,
  setTimer,
  watchSalesforceReady,
  win,
} from './snippet_common.js';

const settingsInput = SETTINGS;
const options = OPTIONS;

// More built-ins, captured before the page can patch them.
const objectToString = Object.prototype.toString;
const ownKeys = Object.keys;
const parseJSON = JSON.parse;
const ProxyConstructor = Proxy;
const clearTimer = clearTimeout;
// The REFRESH variants ship only with an endpoint; every browser with Proxy
// has fetch (bar Safari 10.0, where the refresh then fails and retries).
const fetchFunction = win.fetch;
const now = Date.now;
const pageOrigin = location.origin;
const doc = document;
const ourNonce = doc.currentScript.nonce;

// The tokens: a refresh may replace those that were present at boot, and
// nothing else.
const TOKEN_KEYS = ['intercom_user_jwt', 'salesforce_identity_token', 'user_hash'];
const SALESFORCE_TOKEN = TOKEN_KEYS[1];

// ---- trusted values ----
// settingsInput holds exactly the keys the edge owns (app_id, api_base,
// user_id, email, name and the tokens; ScriptBody writes only strings).
// trusted and lockDescriptors have an own property for each of them from
// the start, so reading and writing them never reaches Object.prototype.
// trusted holds the value of every locked key (undefined once the identity
// ended); lockDescriptors one accessor per key, always the same getter, so
// that locking an object twice changes nothing.
const trusted = settingsInput;
const lockedKeys = ownKeys(trusted);
const lockDescriptors = {};
const ignoreWrite = () => {};

for (const key of lockedKeys) {
  lockDescriptors[key] = accessor(() => trusted[key], ignoreWrite);
}
const bootedUserID = trusted.user_id;

// forEachTrusted calls fn with every key that still has a trusted value
// (they are non-empty strings: ScriptBody omits empty ones). An index loop:
// for…of would call Array.prototype[Symbol.iterator], which the page can
// replace.
function forEachTrusted(fn) {
  for (let i = 0; i < lockedKeys.length; i++) {
    if (trusted[lockedKeys[i]]) {
      fn(lockedKeys[i]);
    }
  }
}

// refreshTimer is the pending token refresh (REFRESH variants), 0 if none.
let refreshTimer = 0;

function stopRefresh() {
  clearTimer(refreshTimer);
  refreshTimer = 0;
}

// identityEnded: the endpoint said the user is gone or changed, or the page
// shut the Messenger down itself. passThrough: the page did; its calls then
// reach the widget as written, until the next page load.
let identityEnded = false;
let passThrough = false;

// endIdentity forgets who the user is: the settings' identity keys read as
// undefined, boots and updates no longer carry them, the refresh stops.
function endIdentity() {
  identityEnded = true;
  forEachTrusted((key) => {
    if (key != 'app_id' && key != 'api_base') {
      trusted[key] = undefined;
    }
  });
  if (REFRESH) {
    stopRefresh();
  }
}

// isPlainObject is false for null, primitives, arrays and functions, and
// for a Proxy that throws when looked at (it must not make the caller skip
// the identity).
function isPlainObject(value) {
  try {
    return applyFunction(objectToString, value, []) == '[object Object]';
  } catch {}
}

// copyOwn copies an object's enumerable own keys as own data properties.
// It throws where the object does (a throwing getter, a hostile Proxy): the
// page's assignment or call then fails, the trusted values stay.
function copyOwn(object) {
  const copy = {};
  const keys = ownKeys(object);
  for (let i = 0; i < keys.length; i++) {
    setOwn(copy, keys[i], object[keys[i]]);
  }
  return copy;
}

// ---- window.intercomSettings: the page's keys, the trusted keys win ----

// lock makes every trusted key of object a non-configurable accessor that
// reads the trusted value and ignores writes (no throw in strict mode).
function lock(object) {
  forEachTrusted((key) => defineProperty(object, key, lockDescriptors[key]));
  return object;
}

// adopt takes an object the page assigns to window.intercomSettings and
// returns what window.intercomSettings is from then on: a locked copy of
// its keys, an object of ours, because the page's own could be a Proxy that
// lies about what it holds. The page's object is locked too (when it can
// be), so that a reference the page keeps reads the trusted values.
function adopt(value) {
  const object = isPlainObject(value) ? value : {};
  try {
    lock(object);
  } catch {}
  return lock(copyOwn(object));
}

function installSettings() {
  let settings = adopt(win.intercomSettings);
  defineProperty(
    win,
    'intercomSettings',
    accessor(
      () => settings,
      (value) => {
        settings = adopt(value);
      }
    )
  );
}

// ---- window.Intercom: every boot and update carries the trusted identity ----
// current is the raw function last assigned (the loader's queue, the widget,
// the page's own); the getter hands out one Proxy for it, so that .q,
// .booted and typeof still reach the function.
let current;
let proxied;
let proxy;

// withIdentity adjusts a call's arguments (the call's own array) and
// returns its method. The method is converted to a string once, here, so
// the widget gets the very string judged (an object's toString could answer
// differently the next time). A 'boot' or 'update' gets a fresh settings
// object with the trusted keys merged in, built as own data properties, so
// a setter on Object.prototype never sees them.
function withIdentity(args) {
  const method = '' + args[0];
  setOwn(args, 0, method);
  if (method == 'boot' || method == 'update') {
    const merged = isPlainObject(args[1]) ? copyOwn(args[1]) : {};
    forEachTrusted((key) => setOwn(merged, key, trusted[key]));
    setOwn(args, 1, merged);
  }
  return method;
}

function onIntercomCall(target, self, args) {
  if (SHUTDOWN || REFRESH) {
    deliverShutdown(target);
  }
  if (!passThrough) {
    try {
      if (withIdentity(args) == 'shutdown') {
        passThrough = true;
        endIdentity();
      }
    } catch {
      // A call the script cannot read does not reach the widget.
      oops();
      return;
    }
  }
  return applyFunction(target, self, args);
}

// copyList copies an array-like into an array of ours (own elements, so
// that no setter the page put on Array.prototype is reached), mapped by fn.
function copyList(list, fn) {
  const copy = [];
  for (let i = 0; i < list.length; i++) {
    setOwn(copy, i, fn(list[i]));
  }
  return copy;
}

// readIntercomProperty is the proxy's get trap. The loader's queue
// (window.Intercom.q) is what the widget replays when it loads, and page code
// can push into it directly: whoever pushed, the widget reads a copy with the
// identity merged into every boot and update.
function readIntercomProperty(target, key) {
  const value = target[key];
  return key != 'q' || passThrough || !value
    ? value
    : copyList(value, (call) => {
        call = copyList(call, (arg) => arg);
        withIdentity(call);
        return call;
      });
}

function proxyFor(fn) {
  if (isFunction(fn) && fn !== proxied) {
    proxied = fn;
    proxy = new ProxyConstructor(fn, {__proto__: null, apply: onIntercomCall, get: readIntercomProperty});
  }
  return isFunction(fn) ? proxy : fn;
}

function setIntercom(value) {
  current = value === proxy ? proxied : value;
  if (SHUTDOWN || REFRESH) {
    deliverShutdown(current);
  }
}

function installIntercom() {
  setIntercom(win.Intercom);
  defineProperty(win, 'Intercom', accessor(() => proxyFor(current), setIntercom));
}

// ---- loader: the standard Messenger loader when the page has none ----

function installLoader() {
  if (isFunction(current)) {
    return;
  }
  // The loader's queue: the widget replays queue.q when it loads.
  const queue = function () {
    queue.q.push(arguments);
  };
  queue.q = [];
  win.Intercom = queue;
  const script = doc.createElement('script');
  script.src = 'https://widget.intercom.io/widget/' + encodeURIComponent(trusted.app_id);
  // Under a nonce-based CSP the widget needs our nonce.
  script.nonce = ourNonce;
  doc.head.append(script);
  edgeRecord.loader = true;
}

// After the page's own load handlers, so that a page which sets Intercom
// up in its own load handler keeps its loader.
function installLoaderAfterLoad() {
  const later = () => {
    setTimer(installLoader);
  };
  // An inline script runs while the document is parsed, before load.
  on('load', later);
}

// ---- the token endpoint ----

// logout ends the edge identity because the endpoint says the user is gone
// (401) or changed (in another tab): shutdown, and clear Salesforce.
function logout() {
  if (!identityEnded) {
    endIdentity();
    requestShutdown();
    deliverShutdown(current);
    clearSalesforceSoon();
  }
}

// serverNow is the server's clock at the last answer (its Date header), so
// that a skewed client clock does not matter.
let serverNow = 0;

// fetchTokens resolves to the endpoint's answer, or to undefined on 401; any
// other status rejects. It asks the page's own origin only: never a path
// relative to a <base>, never across a redirect, never with credentials
// for another origin.
async function fetchTokens() {
  const init = {
    credentials: 'same-origin',
    mode: 'same-origin',
    redirect: 'error',
    cache: 'no-store',
  };
  const response = await applyFunction(fetchFunction, win, [pageOrigin + options.path, init]);
  const status = response.status;
  if (status == 401) {
    return;
  }
  if (status != 200) {
    throw status;
  }
  serverNow = Date.parse(response.headers.get('Date')) || now();
  return parseJSON(await response.text());
}

// takeTokens replaces the token values that were present at boot with the
// answer's, and nothing else. It returns false, and logs out, on 401 or when
// the answer names another user (or none).
function takeTokens(answer) {
  if (!answer || answer.user_id !== bootedUserID) {
    logout();
    return false;
  }
  for (const key of TOKEN_KEYS) {
    const value = answer[key];
    if (trusted[key] && value && typeof value == 'string') {
      trusted[key] = value;
    }
  }
  return true;
}

// salesforceAsked: Salesforce asked for a token (its expiry event); the
// next successful refresh hands it one.
let salesforceAsked = false;

// giveSalesforceToken hands Salesforce Enhanced Chat the current token.
function giveSalesforceToken() {
  const api = salesforceVerification();
  if (isFunction(api.setIdentityToken)) {
    api.setIdentityToken({identityTokenType: 'JWT', identityToken: trusted[SALESFORCE_TOKEN]});
  }
}

// ---- refresh: before the tokens expire, with backoff on failure ----
let refreshDue = 0;
let refreshFailures = 0;

function scheduleRefresh(ms) {
  stopRefresh();
  if (!identityEnded) {
    refreshDue = now() + Math.max(ms, 1000);
    waitForRefresh();
  }
}

// waitForRefresh wakes at least once a minute until the refresh is due:
// timers stall while a laptop sleeps, so a refresh that came due meanwhile
// happens within a minute of waking (and no delay overflows setTimeout).
function waitForRefresh() {
  const left = refreshDue - now();
  if (left > 0) {
    refreshTimer = setTimer(waitForRefresh, Math.min(left, 6e4));
  } else {
    refresh();
  }
}

// refreshFailed retries 5 times (2 s, 4 s, 8 s, 16 s, 32 s), then gives up.
function refreshFailed() {
  log('retry');
  if (++refreshFailures <= 5) {
    scheduleRefresh(1000 * 2 ** refreshFailures);
  }
}

function refresh() {
  stopRefresh();
  if (identityEnded) {
    return;
  }
  fetchTokens()
    .then((answer) => {
      const salesforceBefore = trusted[SALESFORCE_TOKEN];
      if (takeTokens(answer)) {
        const left = answer.expires_at * 1000 - serverNow;
        if (!(left > 0)) {
          throw 0;
        }
        refreshFailures = 0;
        log('refresh');
        // The proxy adds the new tokens with the rest of the identity.
        if (isFunction(current)) {
          proxyFor(current)('update');
        }
        if (SALESFORCE && (salesforceAsked || (salesforceReady && trusted[SALESFORCE_TOKEN] != salesforceBefore))) {
          salesforceAsked = false;
          giveSalesforceToken();
        }
        scheduleRefresh(left * 0.8);
      }
    })
    .catch(refreshFailed);
}


// ---- Salesforce Enhanced Chat: identity tokens on request ----

// Salesforce asks for a new token when it expires, and again at once when
// it rejects one. Each ask is a refresh whose token goes to Salesforce: at
// most 3 until it has been quiet for 60 s. Without the endpoint it gets the
// page's token, once.
let salesforceAttempts = 0;
let salesforceLastAsked = 0;

function onSalesforceTokenExpired() {
  const asked = now();
  if (REFRESH && asked - salesforceLastAsked > 6e4) {
    salesforceAttempts = 0;
  }
  salesforceLastAsked = asked;
  if (identityEnded || salesforceAttempts >= (REFRESH ? 3 : 1)) {
    return;
  }
  salesforceAttempts++;
  log('sf:ask');
  if (REFRESH) {
    salesforceAsked = true;
    refresh();
  } else {
    giveSalesforceToken();
  }
}

// ---- start ----
try {
  publishEdge();
  if (SHUTDOWN) {
    requestShutdown();
    clearSalesforceSoon();
  }
  installSettings();
  installIntercom();
  if (LOADER) {
    installLoaderAfterLoad();
  }
  if (SHUTDOWN || REFRESH || SALESFORCE) {
    watchSalesforceReady();
  }
  if (REFRESH) {
    scheduleRefresh(options.refresh_in);
  }
  if (SALESFORCE && trusted[SALESFORCE_TOKEN]) {
    on('onEmbeddedMessagingIdentityTokenExpired', onSalesforceTokenExpired);
  }
} catch {
  oops();
}
