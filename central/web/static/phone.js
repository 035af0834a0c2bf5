/* Patient phone page: login (last 4 phone digits + birth date), then the day's journey with
   live updates over this visit's own WebSocket feed (polling if WebSockets fail). */
'use strict';

(() => {
  const { el, applyI18n, minutes, sleep } = NFCH;
  const STR = {
    ko: {
      'login.title': '나의 진료 안내', 'login.help': '휴대전화 번호 끝 4자리와 생년월일로 확인합니다.',
      'login.last4': '휴대전화 끝 4자리', 'login.birth': '생년월일 8자리 (예: 19500301)',
      'login.submit': '확인', ticket: '나의 번호', ahead: '앞 대기', wait: '예상 대기',
      prep: '준비 사항', route: '가는 길', notify: '차례가 가까우면 알림 받기',
      people: (n) => `${n}명`, mins: (n) => `약 ${n}분`,
      progress: (d, n) => `${n}단계 중 ${d}단계 완료`,
      near: (a, m) => `곧 차례입니다. 앞에 ${a}명, 약 ${m}분 남았습니다. 진료실 앞에서 기다려 주세요.`,
      called: (room, desk) => `지금 ${room}${desk ? ` ${desk}번 데스크` : ''}로 들어오세요.`,
      next: '다음 차례입니다. 진료실 앞에서 기다려 주세요.', ongoing: '진료 중입니다.', done: '오늘 진료가 모두 끝났습니다. 감사합니다.',
      payment: '수납 창구로 가 주세요.', hold: '잠시 보류 중입니다. 직원이 곧 안내합니다.',
      notQueued: '다음 장소에서 스테이션에 카드를 대 주세요.', updated: '업데이트',
      bad: '입력한 정보와 일치하는 오늘 진료가 없습니다. 다시 확인해 주세요.',
      throttled: (s) => `시도가 너무 많습니다. ${Math.ceil(s / 60)}분 후에 다시 시도하거나 원무과 창구에 문의해 주세요.`,
      error: '지금은 확인할 수 없습니다. 잠시 후 다시 시도해 주세요.',
      expired: '안내 시간이 끝났습니다. 다시 확인해 주세요.', here: '현재', offline: '연결 중…',
      notifyTitle: '곧 차례입니다', routeAlt: (room) => `${room} 가는 길 지도`,
    },
    en: {
      'login.title': 'My visit today', 'login.help': 'Confirm with the last 4 digits of your phone and your birth date.',
      'login.last4': 'Last 4 digits of your phone', 'login.birth': 'Birth date, 8 digits (e.g. 19500301)',
      'login.submit': 'Continue', ticket: 'My number', ahead: 'Ahead of you', wait: 'Expected wait',
      prep: 'Before you go in', route: 'How to get there', notify: 'Notify me when my turn is near',
      people: (n) => `${n}`, mins: (n) => `about ${n} min`,
      progress: (d, n) => `${d} of ${n} steps done`,
      near: (a, m) => `Your turn is near: ${a} ahead, about ${m} min. Please wait by the room.`,
      called: (room, desk) => `Please go in now: ${room}${desk ? `, desk ${desk}` : ''}.`,
      next: 'You are next. Please wait by the room.', ongoing: 'You are being seen.', done: 'All done for today. Thank you.',
      payment: 'Please go to the payment desk.', hold: 'On hold for a moment; staff will guide you.',
      notQueued: 'Tap your card at a station at your next stop.', updated: 'Updated',
      bad: 'No visit today matches what you entered. Please check and try again.',
      throttled: (s) => `Too many attempts. Try again in ${Math.ceil(s / 60)} min or ask at reception.`,
      error: 'Cannot check right now; try again shortly.',
      expired: 'This session ended; please confirm again.', here: 'Now', offline: 'Connecting…',
      notifyTitle: 'Your turn is near', routeAlt: (room) => `Map to ${room}`,
    },
    zh: {
      'login.title': '我的就诊指南', 'login.help': '请输入手机号码后4位和出生日期进行确认。',
      'login.last4': '手机号码后4位', 'login.birth': '出生日期8位（例：19500301）',
      'login.submit': '确认', ticket: '我的号码', ahead: '前面等候', wait: '预计等候',
      prep: '注意事项', route: '路线', notify: '快轮到我时通知我',
      people: (n) => `${n}人`, mins: (n) => `约${n}分钟`,
      progress: (d, n) => `共${n}步，已完成${d}步`,
      near: (a, m) => `快轮到您了：前面${a}人，约${m}分钟。请在诊室门口等候。`,
      called: (room, desk) => `请现在进入${room}${desk ? ` ${desk}号台` : ''}。`,
      next: '下一位就是您。请在诊室门口等候。', ongoing: '正在就诊。', done: '今天的就诊已全部结束。谢谢。',
      payment: '请到收费窗口。', hold: '暂时保留中，工作人员会为您引导。',
      notQueued: '请在下一个地点的终端刷卡。', updated: '更新',
      bad: '没有与输入信息相符的今日就诊。请重新确认。',
      throttled: (s) => `尝试次数过多。请${Math.ceil(s / 60)}分钟后再试，或到挂号窗口咨询。`,
      error: '暂时无法确认，请稍后再试。', expired: '会话已结束，请重新确认。', here: '当前',
      offline: '连接中…', notifyTitle: '快轮到您了', routeAlt: (room) => `前往${room}的地图`,
    },
    ja: {
      'login.title': '本日の診療案内', 'login.help': '携帯電話番号の下4桁と生年月日で確認します。',
      'login.last4': '携帯電話番号の下4桁', 'login.birth': '生年月日8桁（例：19500301）',
      'login.submit': '確認', ticket: 'あなたの番号', ahead: '前の待ち人数', wait: '予想待ち時間',
      prep: '準備事項', route: '行き方', notify: '順番が近づいたら通知する',
      people: (n) => `${n}人`, mins: (n) => `約${n}分`,
      progress: (d, n) => `${n}段階中${d}段階完了`,
      near: (a, m) => `まもなく順番です。前に${a}人、約${m}分です。診察室の前でお待ちください。`,
      called: (room, desk) => `${room}${desk ? ` ${desk}番デスク` : ''}へお入りください。`,
      next: '次があなたの番です。診察室の前でお待ちください。', ongoing: '診察中です。', done: '本日の診療はすべて終了しました。ありがとうございました。',
      payment: '会計窓口へお越しください。', hold: '一時保留中です。スタッフがご案内します。',
      notQueued: '次の場所の端末でカードをタッチしてください。', updated: '更新',
      bad: '入力内容と一致する本日の受診がありません。もう一度ご確認ください。',
      throttled: (s) => `試行回数が多すぎます。${Math.ceil(s / 60)}分後に再度お試しいただくか、受付にお問い合わせください。`,
      error: '現在確認できません。しばらくしてから再度お試しください。',
      expired: 'セッションが終了しました。もう一度確認してください。', here: '現在', offline: '接続中…',
      notifyTitle: 'まもなく順番です', routeAlt: (room) => `${room}への地図`,
    },
  };

  const visitId = document.body.dataset.visit || '';
  let lang = localStorage.getItem('nfch.phone.lang') || 'ko';
  let last = null;
  let notified = false;
  const S = () => STR[lang];
  const tr = (text) => (text ? (text[lang] || text.en || text.ko || '') : '');

  function setLang(l) {
    lang = STR[l] ? l : 'ko';
    localStorage.setItem('nfch.phone.lang', lang);
    document.documentElement.lang = lang;
    const plain = {};
    for (const [k, v] of Object.entries(S())) if (typeof v === 'string') plain[k] = v;
    applyI18n(plain);
    for (const b of document.querySelectorAll('[data-lang]')) b.classList.toggle('on', b.dataset.lang === lang);
    if (last) render(last);
  }

  function showLogin(message) {
    document.getElementById('p-view').hidden = true;
    document.getElementById('p-login').hidden = false;
    const err = document.getElementById('p-login-error');
    err.hidden = !message;
    err.textContent = message || '';
  }

  async function login(ev) {
    ev.preventDefault();
    const body = {
      last4: document.getElementById('p-last4').value.trim(),
      birth: document.getElementById('p-birth').value.trim(),
    };
    if (visitId) body.visit_id = visitId;
    try {
      const r = await fetch('/p/login', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      if (r.ok) {
        const d = await r.json();
        if (d.url === location.pathname) { document.getElementById('p-login').hidden = true; await begin(); }
        else window.location.assign(d.url);
        return;
      }
      if (r.status === 429) showLogin(S().throttled(Number(r.headers.get('Retry-After') || 60)));
      else if (r.status === 401 || r.status === 422) showLogin(S().bad);
      else showLogin(S().error);
    } catch (e) { showLogin(S().error); }
  }

  function alertText(d) {
    const roomName = d.room ? tr(d.room.name) : '';
    if (d.queue_state === 'CALLED') return { text: S().called(roomName, d.desk), cls: 'p-alert called' };
    if (d.near && d.ahead === 0) return { text: S().next, cls: 'p-alert' };
    if (d.near) return { text: S().near(d.ahead ?? 0, minutes(d.estimated_wait_s) ?? 0), cls: 'p-alert' };
    if (d.queue_state === 'ON_HOLD') return { text: S().hold, cls: 'p-alert' };
    return null;
  }

  function render(d) {
    last = d;
    document.getElementById('p-login').hidden = true;
    document.getElementById('p-view').hidden = false;
    const a = alertText(d);
    const alertBox = document.getElementById('p-alert');
    alertBox.hidden = !a;
    if (a) { alertBox.textContent = a.text; alertBox.className = a.cls; }
    document.getElementById('p-number').textContent = d.ticket_number === null ? '-' : String(d.ticket_number);
    let roomLine = d.room ? `${tr(d.room.name)} · ${d.room.floor}` : '';
    if (d.queue_state === 'ONGOING') roomLine = `${roomLine} — ${S().ongoing}`;
    else if (d.state === 'FINISHED') roomLine = S().done;
    else if (d.state === 'PAYMENT') roomLine = S().payment;
    else if (!d.queue_state && d.room) roomLine = `${roomLine} — ${S().notQueued}`;
    document.getElementById('p-room').textContent = roomLine;
    document.getElementById('p-stats').hidden = d.queue_state !== 'WAITING';
    document.getElementById('p-ahead').textContent = d.ahead === null ? '-' : S().people(d.ahead);
    const m = minutes(d.estimated_wait_s);
    document.getElementById('p-wait').textContent = m === null ? '-' : S().mins(m);
    document.getElementById('p-updated').textContent = `${S().updated} ${new Date().toTimeString().slice(0, 8)}`;
    document.getElementById('p-progress').textContent = S().progress(d.steps_done, d.steps_total);
    document.getElementById('p-bar-fill').style.width = `${d.steps_total ? (100 * d.steps_done) / d.steps_total : 0}%`;
    document.getElementById('p-steps').replaceChildren(...d.steps.map((s, i) => el('li', {
      class: s.done ? 'done' : (s.current ? 'current' : '') },
    el('span', { class: 'mark', text: s.done ? '✓' : String(i + 1) }),
    el('span', { class: 'label' }, tr(s.label),
      el('span', { class: 'where', text: `${s.room ? tr(s.room) : ''}${s.floor ? ` · ${s.floor}` : ''}${s.current ? ` · ${S().here}` : ''}` })))));
    const prep = d.room && d.room.prep_notes ? tr(d.room.prep_notes) : '';
    document.getElementById('p-prep-card').hidden = !prep;
    document.getElementById('p-prep').textContent = prep;
    const routeCard = document.getElementById('p-route-card');
    const active = d.state !== 'FINISHED' && d.room && d.room.has_route;
    routeCard.hidden = !active;
    if (active) {
      const img = document.getElementById('p-route');
      const src = `/p/v/${encodeURIComponent(visitId)}/route.svg?lang=${lang}&room=${encodeURIComponent(d.room.room_id)}`;
      if (img.getAttribute('src') !== src) {
        img.setAttribute('src', src);
        document.getElementById('p-route-link').setAttribute('href', src);
      }
      img.setAttribute('alt', S().routeAlt(tr(d.room.name)));
    }
    const notifyBtn = document.getElementById('p-notify');
    notifyBtn.hidden = !('Notification' in window) || Notification.permission !== 'default';
    if ((d.near || d.queue_state === 'CALLED') && !notified && 'Notification' in window
        && Notification.permission === 'granted') {
      notified = true;
      try { new Notification(S().notifyTitle, { body: a ? a.text : '', tag: `nfch-${visitId}` }); } catch (e) { /* some browsers need a service worker */ }
    }
    if (!d.near && d.queue_state !== 'CALLED') notified = false;
  }

  async function fetchStatus() {
    const r = await fetch(`/p/v/${encodeURIComponent(visitId)}/api/status`, { credentials: 'same-origin' });
    if (r.status === 401) return null;
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return r.json();
  }

  async function renew() {
    const r = await fetch(`/p/v/${encodeURIComponent(visitId)}/api/renew`, { method: 'POST', credentials: 'same-origin' });
    return r.ok ? r.json() : null;
  }

  let renewTimer = null;
  function scheduleRenew(expiresAt) {
    clearTimeout(renewTimer);
    const ms = new Date(expiresAt).getTime() - Date.now();
    renewTimer = setTimeout(async () => {
      const d = await renew().catch(() => null);
      if (d) scheduleRenew(d.session_expires_at);
    }, Math.max(5000, ms / 2));
  }

  let polling = null;
  function poll() {
    if (polling) return;
    polling = setInterval(async () => {
      const d = await fetchStatus().catch(() => undefined);
      if (d === null) { clearInterval(polling); polling = null; showLogin(S().expired); } else if (d) render(d);
    }, 15000);
  }

  let failures = 0;
  function live() {
    const sock = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/p/v/${encodeURIComponent(visitId)}/ws`);
    sock.addEventListener('open', () => { failures = 0; document.body.dataset.live = '1'; });
    sock.addEventListener('message', (ev) => render(JSON.parse(ev.data)));
    sock.addEventListener('close', async () => {
      document.body.dataset.live = '0';
      failures += 1;
      if (failures > 5) { poll(); return; }
      await sleep(Math.min(1000 * 2 ** failures, 15000));
      const d = await fetchStatus().catch(() => undefined);
      if (d === null) { showLogin(S().expired); return; }
      if (d) render(d);
      live();
    });
  }

  async function begin() {
    const d = await fetchStatus().catch(() => undefined);
    if (d === null) { showLogin(''); return; }
    if (d === undefined) { showLogin(S().error); return; }
    render(d);
    scheduleRenew(d.session_expires_at);
    live();
  }

  for (const b of document.querySelectorAll('[data-lang]')) b.addEventListener('click', () => setLang(b.dataset.lang));
  document.getElementById('p-login-form').addEventListener('submit', login);
  document.getElementById('p-notify').addEventListener('click', async () => {
    if ('Notification' in window) await Notification.requestPermission();
    if (last) render(last);
  });
  setLang(lang);
  if (visitId) begin(); else showLogin('');
})();
