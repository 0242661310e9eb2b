/**
 * The renderer's entry. It finds `window.zflash` (the Electron preload, or the web shell's page
 * script, both loaded before this module) and starts the app; without it the page says plainly
 * what it is missing instead of showing a wizard that cannot work.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.js';
import { findApi } from './lib/api.js';
import { StoreProvider } from './store/context.js';
import { createAppStore } from './store/store.js';
import './styles.css';

function NoApi() {
  return (
    <main className="main">
      <section className="step">
        <h1>Zeta Flash cannot start here</h1>
        <p className="intro">
          This page is the inside of the Zeta Flash app. Open the app itself, or, for the browser
          version, the address <code>npm run web</code> prints (with its #token).
        </p>
      </section>
    </main>
  );
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
const api = findApi();
createRoot(root).render(
  <StrictMode>
    {api ? (
      <StoreProvider store={createAppStore(api)}>
        <App />
      </StoreProvider>
    ) : (
      <NoApi />
    )}
  </StrictMode>,
);
