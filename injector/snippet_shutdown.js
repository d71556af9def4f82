// caddy-intercom: the small script for an anonymous page when the browser
// still holds a previous user's Messenger session (ScriptBody with an empty
// UserID and SnippetOptions.Shutdown). It carries no settings and no loader:
// the first function the page (or the widget) assigns to window.Intercom is
// called with 'shutdown' before anything else reaches it, then
// window.Intercom is a plain property again; Salesforce's session is cleared
// once Enhanced Chat is ready.
import {
  clearSalesforceSoon,
  defineProperty,
  deliverShutdown,
  isShutdownPending,
  oops,
  publishEdge,
  requestShutdown,
  watchSalesforceReady,
  win,
} from './snippet_common.js';

function interceptUntilShutdown() {
  let current = win.Intercom;
  deliverShutdown(current);
  if (isShutdownPending()) {
    defineProperty(win, 'Intercom', {
      __proto__: null,
      configurable: true,
      get: () => current,
      set: (value) => {
        current = value;
        deliverShutdown(value);
        if (!isShutdownPending()) {
          // Done: back to a plain property, the page sees no difference.
          defineProperty(win, 'Intercom', {__proto__: null, configurable: true, enumerable: true, writable: true, value});
        }
      },
    });
  }
}

try {
  publishEdge();
  requestShutdown();
  watchSalesforceReady();
  clearSalesforceSoon();
  interceptUntilShutdown();
} catch {
  oops();
}
