/* Shared helpers. Every dynamic value goes into the page through textContent or attributes
   set one by one, never through innerHTML: a name like <img onerror=...> stays text. */
'use strict';

const NFCH = (() => {
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function cookie(name) {
    for (const part of document.cookie.split(';')) {
      const [k, ...rest] = part.trim().split('=');
      if (k === name) return decodeURIComponent(rest.join('='));
    }
    return '';
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message_en || `HTTP ${status}`);
      this.status = status;
      this.reason = e.reason || 'http_error';
      this.body = body;
    }
    text(lang) {
      const e = (this.body && this.body.error) || {};
      return (lang === 'ko' ? e.message_ko : e.message_en) || this.message;
    }
  }

  let refreshing = null;

  /* Rotate the refresh token. Tabs share the cookies, so only one tab refreshes at a time
     (Web Locks); a tab that waited then refreshes with the cookies the other tab got. */
  async function refreshSession() {
    if (refreshing) return refreshing;
    const attempt = async () => {
      for (let i = 0; i < 3; i++) {
        const r = await fetch('/auth/refresh', {
          method: 'POST', credentials: 'same-origin',
          headers: { 'X-CSRF-Token': cookie('nfch_csrf') },
        });
        if (r.ok) return true;
        if (r.status !== 409) return false;
        await sleep(250); // another tab refreshed this instant: its cookies are ours too
        const me = await fetch('/auth/me', { credentials: 'same-origin' });
        if (me.ok) return true;
      }
      return false;
    };
    refreshing = (navigator.locks ? navigator.locks.request('nfch-refresh', attempt) : attempt());
    try { return await refreshing; } finally { refreshing = null; }
  }

  let onLoggedOut = () => { window.location.assign('/staff/login'); };

  /* JSON API call; on 401 it refreshes the session once and retries. */
  async function api(method, url, body) {
    const send = () => {
      const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
      if (body !== undefined) {
        opts.headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
      }
      if (method !== 'GET') opts.headers['X-CSRF-Token'] = cookie('nfch_csrf');
      return fetch(url, opts);
    };
    let r = await send();
    if (r.status === 401) {
      if (await refreshSession()) r = await send();
      if (r.status === 401) { onLoggedOut(); throw new ApiError(401, null); }
    }
    const data = await r.json().catch(() => null);
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  function applyI18n(strings) {
    for (const node of document.querySelectorAll('[data-i18n]')) {
      const s = strings[node.dataset.i18n];
      if (s !== undefined) node.textContent = s;
    }
    for (const node of document.querySelectorAll('[data-i18n-placeholder]')) {
      const s = strings[node.dataset.i18nPlaceholder];
      if (s !== undefined) node.setAttribute('placeholder', s);
    }
  }

  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return null;
    return Math.max(0, Math.round(seconds / 60));
  }

  return {
    el, cookie, sleep, api, ApiError, refreshSession, applyI18n, minutes,
    setLoggedOut(fn) { onLoggedOut = fn; },
  };
})();
