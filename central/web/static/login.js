/* Staff login page. */
'use strict';

(() => {
  const STR = {
    ko: {
      'login.title': '외래 대기 관리 시스템 · 직원 로그인', 'login.username': '아이디',
      'login.password': '비밀번호', 'login.submit': '로그인',
      bad: '아이디 또는 비밀번호가 맞지 않습니다.',
      throttled: (s) => `로그인 시도가 너무 많습니다. ${s}초 후에 다시 시도해 주세요.`,
      error: '로그인할 수 없습니다. 잠시 후 다시 시도해 주세요.',
    },
    en: {
      'login.title': 'Outpatient queue management · Staff login', 'login.username': 'User name',
      'login.password': 'Password', 'login.submit': 'Log in',
      bad: 'The user name or password is wrong.',
      throttled: (s) => `Too many attempts. Try again in ${s} s.`,
      error: 'Cannot log in right now; try again shortly.',
    },
  };
  let lang = localStorage.getItem('nfch.staff.lang') || 'ko';
  const form = document.getElementById('login-form');
  const error = document.getElementById('login-error');
  const submit = document.getElementById('login-submit');

  function setLang(l) {
    lang = STR[l] ? l : 'ko';
    localStorage.setItem('nfch.staff.lang', lang);
    document.documentElement.lang = lang;
    NFCH.applyI18n(STR[lang]);
  }
  for (const b of document.querySelectorAll('[data-lang]')) {
    b.addEventListener('click', () => setLang(b.dataset.lang));
  }
  setLang(lang);

  function show(text) { error.textContent = text; error.hidden = false; }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      const r = await fetch('/auth/login', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          username: document.getElementById('username').value,
          password: document.getElementById('password').value,
        }),
      });
      if (r.ok) {
        const next = new URLSearchParams(location.search).get('next');
        window.location.assign(next && next.startsWith('/staff') ? next : '/staff');
        return;
      }
      if (r.status === 429) show(STR[lang].throttled(r.headers.get('Retry-After') || '?'));
      else if (r.status === 401) show(STR[lang].bad);
      else show(STR[lang].error);
    } catch (e) {
      show(STR[lang].error);
    } finally {
      submit.disabled = false;
    }
  });
})();
