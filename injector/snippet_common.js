// caddy-intercom: what both inline scripts share (snippet.js for an
// identified page, snippet_shutdown.js for an anonymous page whose browser
// still holds a previous user's Messenger session): the built-ins captured
// before any page code can patch them, the window.__intercomEdge record, and
// the one implementation of "shut the Messenger down before anything else
// reaches it".
//
// This is source, not what ships: `go generate ./injector` bundles and
// minifies it with esbuild into snippet_gen.json (see tools/snippet).

// ---- built-ins, captured when the script starts ----
// The snippet is injected before the page's first script, so these are the
// browser's own functions; a page that later patches Reflect.apply,
// Object.defineProperty or JSON.parse does not reach into the snippet.
export const win = window;
export const applyFunction = Reflect.apply;
export const defineProperty = Object.defineProperty;
export const setTimer = setTimeout;

// on listens on window. Every listener is added while the script starts,
// before any page code could patch addEventListener. Listeners do not catch:
// an exception there ends only that event's handling (and shows in the
// console), it cannot reach the page's code.
export function on(type, listener) {
  win.addEventListener(type, listener);
}

export function isFunction(value) {
  return typeof value == 'function';
}

// accessor is the descriptor of a property the page can neither delete nor
// redefine (configurable: false is spelled out: it also turns an existing
// configurable property into a locked one). A descriptor that is used after
// the page's code ran has no prototype, so that a get, set or value the
// page put on Object.prototype is never read as part of it.
export function accessor(get, set) {
  return {__proto__: null, configurable: false, enumerable: true, get, set};
}

// setOwn creates or replaces an own data property: unlike `o[key] = value`
// it never reaches a setter on the prototype chain.
export function setOwn(object, key, value) {
  defineProperty(object, key, {__proto__: null, value, writable: true, enumerable: true, configurable: true});
}

// ---- window.__intercomEdge: what the script did, for tests and support ----
// loader: true once it installed the loader; log: short event names, never a
// token (shutdown, sf:ask, refresh, retry, error).
export const edge = {log: []};

export function log(event) {
  edge.log.push(event);
}

// oops records an unexpected exception (the behaviour tests fail on it).
export function oops() {
  log('error');
}

// ---- shutdown: the first Intercom function gets 'shutdown' before anything else ----
let shutdownPending = false;

export function requestShutdown() {
  shutdownPending = true;
}

export function isShutdownPending() {
  return shutdownPending;
}

// deliverShutdown calls fn('shutdown') when a shutdown is pending and fn is
// a function (the loader's queue, the widget, or the page's own function):
// on the loader's queue that makes it the first queued call.
export function deliverShutdown(fn) {
  if (shutdownPending && isFunction(fn)) {
    shutdownPending = false;
    log('shutdown');
    try {
      fn('shutdown');
    } catch {
      oops();
    }
  }
}

// ---- Salesforce Enhanced Chat: its session ends with the Messenger's ----
export let salesforceReady = false;
let salesforceClearPending = false;

export function salesforceVerification() {
  const bootstrap = win.embeddedservice_bootstrap;
  return (bootstrap && bootstrap.userVerificationAPI) || {};
}

function clearPendingSalesforceSession() {
  const api = salesforceVerification();
  if (salesforceClearPending && isFunction(api.clearSession)) {
    salesforceClearPending = false;
    api.clearSession(true);
  }
}

// clearSalesforceSoon clears Salesforce's session now if Enhanced Chat is
// ready, else on its first onEmbeddedMessagingReady (clearSession makes
// Salesforce fire that event again, so a pending clear runs once).
export function clearSalesforceSoon() {
  salesforceClearPending = true;
  if (salesforceReady) {
    clearPendingSalesforceSession();
  }
}

export function watchSalesforceReady() {
  on('onEmbeddedMessagingReady', () => {
    salesforceReady = true;
    clearPendingSalesforceSession();
  });
}

// publishEdge makes the record readable as window.__intercomEdge.
export function publishEdge() {
  defineProperty(win, '__intercomEdge', {value: edge});
}
