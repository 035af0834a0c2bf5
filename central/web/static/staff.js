/* Staff dashboard: live room boards (WebSocket with resume), queue operations, patient
   search and journey timeline, station fleet. Korean first, English available. */
'use strict';

(() => {
  const { el, api, ApiError, applyI18n, minutes } = NFCH;

  const STR = {
    ko: {
      'app.title': '외래 대기 관리', 'tab.queues': '대기열', 'tab.search': '환자 검색',
      'tab.fleet': '장비 현황', 'conn.on': '실시간 연결', 'conn.off': '연결 끊김', logout: '로그아웃',
      'rooms.title': '진료실 선택', 'rooms.pick': '왼쪽에서 진료실을 선택하세요.',
      wholeDept: '과 전체 보기/숨기기',
      'search.placeholder': '번호표, 이름 또는 등록번호', 'search.go': '검색',
      'col.ticket': '번호', 'col.name': '이름', 'col.reg': '등록번호', 'col.room': '진료실',
      'col.state': '상태', 'fleet.station': '스테이션', 'fleet.status': '상태',
      'fleet.seen': '마지막 수신', 'fleet.version': '버전', 'fleet.outbox': '미전송',
      'fleet.oldest': '가장 오래된 미전송', 'fleet.readers': '리더기', 'fleet.clock': '시계 오차',
      'fleet.acked': '확인된 순번', 'fleet.revoke': '접속 해지',
      'fleet.confirmRevoke': '이 스테이션의 브로커 접속을 해지할까요? 다시 쓰려면 새로 등록해야 합니다.',
      'fleet.revoked': '접속 해지됨', close: '닫기', cancel: '취소', ok: '확인',
      langToggle: 'English', callNext: '다음 환자 호출', calling: '호출 중', ongoing: '진료 중',
      waiting: '대기', held: '보류', nobody: '없음', waitingCount: '대기', servedToday: '오늘 완료',
      estWait: '예상 대기', min: '분', people: '명', closed: '접수 마감', desk: '데스크',
      calls: '회 호출', op_call: '호출', op_recall: '재호출', op_miss: '부재', 'op_no-show': '노쇼',
      op_start: '입실', op_complete: '완료', op_transfer: '이동', op_hold: '보류',
      op_release: '복귀', op_cancel: '취소', done: '처리되었습니다', transferTo: '이동할 진료실',
      confirmCancel: '이 환자의 접수를 취소할까요?', 'confirmNo-show': '노쇼로 처리할까요?',
      visit: '방문', state: '상태', reg: '등록번호', room: '진료실', ticket: '번호표',
      steps: '검사·진료 순서', journey: '진행 기록', phoneLink: '휴대폰 안내 링크 만들기',
      phoneLinkHelp: '환자 휴대폰으로 QR을 찍게 하세요. 한 번만 쓸 수 있고 10분 뒤 만료됩니다.',
      noResults: '검색 결과가 없습니다.', online: '온라인', offline: '오프라인', unknown: '알 수 없음',
      ago: '전', sec: '초', role_nurse: '간호사', role_reception: '원무', role_admin: '관리자',
      role_technician: '기술지원', noAccess: '이 화면을 볼 권한이 없습니다.',
      'tab.analytics': '통계', 'an.csv': 'CSV 내려받기', 'an.throughput': '시간대별 진료 완료',
      'an.waitByHour': '시간대별 대기 시간 (중앙값, 분)', 'an.completed': '완료', 'an.noShow': '노쇼율',
      'an.waitMed': '대기 중앙값', 'an.waitP90': '대기 90%', 'an.service': '진료 시간',
      'an.growth': '최근 30분 증감', 'an.total': '오늘 완료', 'an.medWait': '대기 중앙값',
      'an.bottleneck': '대기가 빠르게 늘어나는 곳', 'an.none': '없음',
      'tab.admin': '직원 관리', 'admin.username': '아이디', 'admin.name': '이름', 'admin.role': '역할',
      'admin.state': '상태', 'admin.password': '초기 비밀번호 (10자 이상)', 'admin.create': '직원 추가',
      active: '사용 중', disabled: '사용 중지', disable: '사용 중지', enable: '다시 사용',
      endSessions: '모든 기기 로그아웃', created: '직원을 추가했습니다',
    },
    en: {
      'app.title': 'Outpatient queues', 'tab.queues': 'Queues', 'tab.search': 'Patient search',
      'tab.fleet': 'Stations', 'conn.on': 'Live', 'conn.off': 'Disconnected', logout: 'Log out',
      'rooms.title': 'Rooms', 'rooms.pick': 'Pick a room on the left.',
      wholeDept: 'Show or hide the whole department',
      'search.placeholder': 'Ticket number, name or registration number', 'search.go': 'Search',
      'col.ticket': 'No.', 'col.name': 'Name', 'col.reg': 'Reg. no.', 'col.room': 'Room',
      'col.state': 'State', 'fleet.station': 'Station', 'fleet.status': 'Status',
      'fleet.seen': 'Last seen', 'fleet.version': 'Version', 'fleet.outbox': 'Unsent',
      'fleet.oldest': 'Oldest unsent', 'fleet.readers': 'Readers', 'fleet.clock': 'Clock offset',
      'fleet.acked': 'Acked seq', 'fleet.revoke': 'Revoke',
      'fleet.confirmRevoke': "Revoke this station's broker login? It must be enrolled again to be used.",
      'fleet.revoked': 'Revoked', close: 'Close', cancel: 'Cancel', ok: 'OK',
      langToggle: '한국어', callNext: 'Call next', calling: 'Calling', ongoing: 'In room',
      waiting: 'Waiting', held: 'On hold', nobody: 'Nobody', waitingCount: 'Waiting',
      servedToday: 'Done today', estWait: 'Est. wait', min: 'min', people: '', closed: 'Closed',
      desk: 'Desk', calls: '× called', op_call: 'Call', op_recall: 'Recall', op_miss: 'Missed',
      'op_no-show': 'No-show', op_start: 'Start', op_complete: 'Complete', op_transfer: 'Transfer',
      op_hold: 'Hold', op_release: 'Release', op_cancel: 'Cancel', done: 'Done',
      transferTo: 'Move to room', confirmCancel: 'Cancel this visit?',
      'confirmNo-show': 'Mark as no-show?', visit: 'Visit', state: 'State', reg: 'Reg. no.',
      room: 'Room', ticket: 'Ticket', steps: 'Steps', journey: 'Journey',
      phoneLink: 'Make a phone-page link',
      phoneLinkHelp: 'Let the patient scan the QR code. One use; expires in 10 minutes.',
      noResults: 'No matches.', online: 'Online', offline: 'Offline', unknown: 'Unknown',
      ago: 'ago', sec: 's', role_nurse: 'Nurse', role_reception: 'Reception', role_admin: 'Admin',
      role_technician: 'Technician', noAccess: 'Your role cannot see this.',
      'tab.analytics': 'Analytics', 'an.csv': 'Download CSV', 'an.throughput': 'Completed per hour',
      'an.waitByHour': 'Median wait per hour (min)', 'an.completed': 'Done', 'an.noShow': 'No-show rate',
      'an.waitMed': 'Median wait', 'an.waitP90': '90% wait', 'an.service': 'Service time',
      'an.growth': 'Line growth (30 min)', 'an.total': 'Done today', 'an.medWait': 'Median wait',
      'an.bottleneck': 'Lines growing fastest', 'an.none': 'None',
      'tab.admin': 'Staff', 'admin.username': 'User name', 'admin.name': 'Name', 'admin.role': 'Role',
      'admin.state': 'State', 'admin.password': 'First password (10+ characters)',
      'admin.create': 'Add staff', active: 'Active', disabled: 'Disabled', disable: 'Disable',
      enable: 'Enable', endSessions: 'Log out everywhere', created: 'Staff member added',
    },
  };
  const STATES = {
    ko: { UNREGISTERED: '미접수', ARRIVED: '도착', REGISTERED: '접수', WAITING: '대기', ON_HOLD: '보류',
      CALLED: '호출', ONGOING: '진료 중', COMPLETED: '완료', PAYMENT: '수납 대기', FINISHED: '귀가',
      NO_SHOW: '노쇼', CANCELLED: '취소' },
    en: { UNREGISTERED: 'Unregistered', ARRIVED: 'Arrived', REGISTERED: 'Registered',
      WAITING: 'Waiting', ON_HOLD: 'On hold', CALLED: 'Called', ONGOING: 'In room',
      COMPLETED: 'Completed', PAYMENT: 'Payment', FINISHED: 'Finished', NO_SHOW: 'No-show',
      CANCELLED: 'Cancelled' },
  };

  let lang = localStorage.getItem('nfch.staff.lang') || 'ko';
  const t = (k) => {
    if (STR[lang] && k in STR[lang]) return STR[lang][k];
    return k in STR.ko ? STR.ko[k] : k;
  };
  const tr = (text) => (text ? (text[lang] || text.en || text.ko || '') : '');
  const stateName = (s) => (STATES[lang] && STATES[lang][s]) || s;

  let me = null;
  let rooms = [];
  const roomById = {};
  const snaps = {};
  const staffView = {}; // room_id -> {byId, held}
  const selected = new Set(JSON.parse(localStorage.getItem('nfch.staff.rooms') || '[]'));
  const can = (action) => !!(me && me.actions.includes(action));

  // ------------------------------------------------------------------ small UI helpers

  let toastTimer = null;
  function toast(text, bad) {
    const node = document.getElementById('toast');
    node.textContent = text;
    node.className = bad ? 'toast bad' : 'toast';
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, bad ? 5000 : 1800);
  }

  function failed(e) {
    toast(e instanceof ApiError ? e.text(lang) : String(e), true);
  }

  function modal(title, body) {
    const dlg = document.getElementById('modal');
    document.getElementById('modal-title').textContent = title;
    document.getElementById('modal-body').replaceChildren(...body);
    return new Promise((resolve) => {
      dlg.addEventListener('close', () => resolve(dlg.returnValue), { once: true });
      dlg.returnValue = 'cancel';
      dlg.showModal();
    });
  }

  function setConn(on) {
    const c = document.getElementById('conn');
    c.className = on ? 'conn conn-on' : 'conn conn-off';
    c.dataset.i18n = on ? 'conn.on' : 'conn.off';
    c.textContent = t(c.dataset.i18n);
    document.body.dataset.live = on ? '1' : '0';
  }

  const pad = (n) => String(n).padStart(2, '0');
  function hms(d) { return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; }
  function fmtTime(iso) { return hms(new Date(iso)); }
  const ACTIONS = {
    ko: { register: '등록', check_in: '접수', call: '호출', recall: '재호출', miss: '부재',
      no_show: '노쇼', start: '입실', complete: '완료', transfer: '이동', hold: '보류',
      release: '복귀', cancel: '취소', pay: '수납', arrive: '도착', rejoin: '재대기',
      next_step: '다음 단계', to_payment: '수납 안내' },
    en: {},
  };
  const actionName = (a) => (ACTIONS[lang] && ACTIONS[lang][a]) || a.replace(/_/g, ' ');

  // ------------------------------------------------------------------ operations

  async function op(visitId, name, extra) {
    try {
      await api('POST', `/api/v1/visits/${encodeURIComponent(visitId)}/${name}`,
        { actor: me.username, ...(extra || {}) });
      toast(`${t('op_' + name)} · ${t('done')}`);
    } catch (e) { failed(e); }
  }

  async function callNext(roomId) {
    try {
      const r = await api('POST', `/api/v1/rooms/${encodeURIComponent(roomId)}/call-next`,
        { actor: me.username });
      toast(`${t('op_call')} ${r.visit.ticket_number ?? ''} · ${r.visit.patient_name}`);
    } catch (e) { failed(e); }
  }

  async function confirmThen(visitId, name) {
    const key = name === 'cancel' ? 'confirmCancel' : 'confirmNo-show';
    if (await modal(t(key), []) === 'ok') await op(visitId, name);
  }

  async function transfer(visitId, fromRoom) {
    const select = el('select', { id: 'transfer-room' },
      rooms.filter((r) => r.room_id !== fromRoom)
        .map((r) => el('option', { value: r.room_id, text: `${tr(r.name)} (${r.floor_label})` })));
    if (await modal(t('transferTo'), [select]) === 'ok') {
      await op(visitId, 'transfer', { to_room_id: select.value });
    }
  }

  // ------------------------------------------------------------------ sidebar

  function renderSidebar() {
    const list = document.getElementById('room-list');
    const depts = new Map();
    for (const r of rooms) {
      if (!depts.has(r.department_id)) depts.set(r.department_id, { name: r.department_name, rooms: [] });
      depts.get(r.department_id).rooms.push(r);
    }
    const groups = [];
    for (const d of depts.values()) {
      const ids = d.rooms.map((r) => r.room_id);
      groups.push(el('div', { class: 'dept' },
        el('button', { class: 'dept-name', type: 'button', text: tr(d.name), title: t('wholeDept'),
          onclick: () => toggleRooms(ids) }),
        d.rooms.map((r) => {
          const snap = snaps[r.room_id];
          const n = snap ? snap.waiting.length : '';
          return el('button', {
            class: 'room-item' + (selected.has(r.room_id) ? ' on' : '') + (r.open ? '' : ' closed'),
            type: 'button', dataset: { room: r.room_id },
            onclick: () => toggleRoom(r.room_id),
          }, el('span', { text: tr(r.name) }), el('span', { class: 'count', text: String(n) }));
        })));
    }
    list.replaceChildren(...groups);
  }

  function toggleRooms(ids) {
    // A department click shows all its rooms, or hides them when all are shown.
    const all = ids.every((id) => selected.has(id));
    for (const id of ids) { if (all) selected.delete(id); else selected.add(id); }
    localStorage.setItem('nfch.staff.rooms', JSON.stringify([...selected]));
    renderSidebar();
    renderBoards();
    if (!all) for (const id of ids) loadNames(id);
  }

  function toggleRoom(roomId) {
    if (selected.has(roomId)) selected.delete(roomId); else selected.add(roomId);
    localStorage.setItem('nfch.staff.rooms', JSON.stringify([...selected]));
    renderSidebar();
    renderBoards();
    if (selected.has(roomId)) loadNames(roomId);
  }

  // ------------------------------------------------------------------ boards

  const nameTimers = {};
  function loadNames(roomId) {
    // Full names only for roles that work with patients (technicians see masked names).
    if (!can('patient.search')) return;
    clearTimeout(nameTimers[roomId]);
    nameTimers[roomId] = setTimeout(async () => {
      try {
        const page = await api('GET', `/api/v1/visits?room_id=${encodeURIComponent(roomId)}&limit=1000`);
        const byId = {};
        for (const v of page.items) byId[v.visit_id] = v;
        staffView[roomId] = {
          byId, held: page.items.filter((v) => v.queue_state === 'ON_HOLD' && v.room_id === roomId),
        };
        renderBoard(roomId);
      } catch (e) { if (!(e instanceof ApiError && e.status === 401)) failed(e); }
    }, 60);
  }

  function actButton(label, cls, handler, opName) {
    return el('button', { class: `btn btn-sm ${cls}`, type: 'button', dataset: { op: opName },
      onclick: handler, text: label });
  }

  function row(entry, roomId, kind) {
    const v = (staffView[roomId] && staffView[roomId].byId[entry.visit_id]) || null;
    const name = v ? v.patient_name : entry.masked_name;
    const meta = [];
    if (v) meta.push(v.registration_no);
    if (kind === 'calling') {
      if (entry.desk) meta.push(`${t('desk')} ${entry.desk}`);
      meta.push(`${entry.call_count}${t('calls')}`);
    }
    if (kind === 'waiting' && entry.estimated_wait_s !== null && entry.estimated_wait_s !== undefined) {
      meta.push(`${t('estWait')} ${minutes(entry.estimated_wait_s)}${t('min')}`);
    }
    const acts = [];
    if (can('queue.operate')) {
      const id = entry.visit_id;
      if (kind === 'calling') {
        acts.push(actButton(t('op_start'), 'btn-ok', () => op(id, 'start'), 'start'),
          actButton(t('op_recall'), '', () => op(id, 'recall'), 'recall'),
          actButton(t('op_miss'), 'btn-warn', () => op(id, 'miss'), 'miss'),
          actButton(t('op_no-show'), 'btn-danger', () => confirmThen(id, 'no-show'), 'no-show'));
      } else if (kind === 'ongoing') {
        acts.push(actButton(t('op_complete'), 'btn-ok', () => op(id, 'complete'), 'complete'),
          actButton(t('op_transfer'), '', () => transfer(id, roomId), 'transfer'));
      } else if (kind === 'waiting') {
        acts.push(actButton(t('op_call'), 'btn-primary', () => op(id, 'call'), 'call'),
          actButton(t('op_hold'), 'btn-warn', () => op(id, 'hold'), 'hold'),
          actButton(t('op_transfer'), '', () => transfer(id, roomId), 'transfer'),
          actButton(t('op_cancel'), 'btn-danger', () => confirmThen(id, 'cancel'), 'cancel'));
      } else if (kind === 'held') {
        acts.push(actButton(t('op_release'), 'btn-primary', () => op(id, 'release'), 'release'),
          actButton(t('op_cancel'), 'btn-danger', () => confirmThen(id, 'cancel'), 'cancel'));
      }
    }
    return el('li', { class: `row ${kind}`, dataset: { visit: entry.visit_id, ticket: String(entry.ticket_number) } },
      kind === 'waiting' ? el('span', { class: 'pos', text: String(entry.position ?? '') }) : null,
      el('span', { class: 'ticket', text: String(entry.ticket_number ?? '-') }),
      el('span', { class: 'who' },
        el('span', { class: 'name', text: name, onclick: can('journey.read') ? () => openPatient(entry.visit_id) : null },
          entry.priority < 5 ? el('span', { class: 'prio', text: `P${entry.priority}` }) : null),
        el('span', { class: 'meta', text: meta.join(' · ') })),
      el('span', { class: 'acts' }, acts));
  }

  function section(title, kind, entries, roomId) {
    return [
      el('div', { class: 'section-title', text: `${title} ${entries.length}` }),
      el('ul', { class: 'rows', dataset: { section: kind } },
        entries.length ? entries.map((e) => row(e, roomId, kind)) : el('li', { class: 'none', text: t('nobody') })),
    ];
  }

  function boardNode(roomId) {
    const r = roomById[roomId];
    const snap = snaps[roomId];
    const view = staffView[roomId] || { byId: {}, held: [] };
    const head = el('div', { class: 'board-head' },
      el('div', { class: 'board-title' },
        el('h3', { text: tr(r.name) }),
        el('div', { class: 'sub', text: `${tr(r.department_name)} · ${r.floor_label} · ${lang === 'ko' ? r.name.en : r.name.ko}` })),
      can('queue.operate')
        ? el('button', { class: 'btn btn-call', type: 'button', dataset: { op: 'call-next' },
          onclick: () => callNext(roomId), text: t('callNext') })
        : null);
    if (!snap) return el('article', { class: 'board', dataset: { room: roomId } }, head);
    const held = view.held.map((v) => ({
      visit_id: v.visit_id, ticket_number: v.ticket_number, masked_name: v.masked_name,
      priority: v.priority, call_count: v.call_count,
    }));
    const stats = el('div', { class: 'board-stats' },
      el('span', {}, `${t('waitingCount')} `, el('b', { text: String(snap.waiting.length), dataset: { stat: 'waiting' } }), t('people')),
      el('span', {}, `${t('servedToday')} `, el('b', { text: String(snap.served_today) })),
      snap.estimated_wait_s !== null && snap.estimated_wait_s !== undefined
        ? el('span', {}, `${t('estWait')} `, el('b', { text: String(minutes(snap.estimated_wait_s)) }), t('min'))
        : null,
      snap.open ? null : el('span', { class: 'closed-flag', text: t('closed') }));
    return el('article', { class: 'board', dataset: { room: roomId, version: String(snap.version) } },
      head, stats,
      section(t('calling'), 'calling', snap.now_calling, roomId),
      section(t('ongoing'), 'ongoing', snap.ongoing, roomId),
      section(t('waiting'), 'waiting', snap.waiting, roomId),
      held.length ? section(t('held'), 'held', held, roomId) : null);
  }

  function renderBoard(roomId) {
    if (!selected.has(roomId) || !roomById[roomId]) return;
    const boards = document.getElementById('boards');
    const old = boards.querySelector(`[data-room="${CSS.escape(roomId)}"]`);
    const node = boardNode(roomId);
    if (old) old.replaceWith(node); else renderBoards();
  }

  function renderBoards() {
    const boards = document.getElementById('boards');
    const ids = rooms.map((r) => r.room_id).filter((id) => selected.has(id));
    boards.replaceChildren(...ids.map(boardNode));
    document.getElementById('boards-empty').hidden = ids.length > 0;
  }

  // ------------------------------------------------------------------ WebSocket

  let ws = null;
  let epoch = null;
  let backoff = 500;
  let offTimer = null;
  const seqs = {};

  function wsConnect() {
    const sock = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws`);
    ws = sock;
    sock.addEventListener('open', () => {
      backoff = 500;
      clearTimeout(offTimer);
      setConn(true);
      const streams = {};
      for (const r of rooms) {
        const name = `room:${r.room_id}`;
        streams[name] = seqs[name] === undefined ? null : seqs[name];
      }
      if (can('fleet.read')) streams.stations = seqs.stations === undefined ? null : seqs.stations;
      sock.send(JSON.stringify({ op: 'subscribe', streams, epoch }));
    });
    sock.addEventListener('message', (ev) => onFrame(JSON.parse(ev.data)));
    sock.addEventListener('close', async () => {
      if (ws !== sock) return;
      // The server ends the socket when the access token expires; the reconnect with a fresh
      // token usually takes well under a second, so only say "disconnected" if it does not.
      clearTimeout(offTimer);
      offTimer = setTimeout(() => setConn(false), 2000);
      await NFCH.sleep(backoff);
      backoff = Math.min(backoff * 2, 10000);
      await ensureSession();
      wsConnect();
    });
  }

  function onFrame(f) {
    if (f.type === 'error') { console.warn('ws error', f.data); return; }
    if (f.stream === null) return;
    epoch = f.epoch;
    seqs[f.stream] = f.seq;
    if (f.stream.startsWith('room:') && (f.type === 'snapshot' || f.type === 'reset') && f.data) {
      const snap = f.data;
      const prev = snaps[snap.room_id];
      if (prev && prev.version > snap.version) return; // never go back
      snaps[snap.room_id] = snap;
      if (selected.has(snap.room_id)) { renderBoard(snap.room_id); loadNames(snap.room_id); }
      renderSidebarCount(snap.room_id);
    } else if (f.stream === 'stations') {
      if (!document.getElementById('tab-fleet').hidden) loadFleet();
    }
  }

  function renderSidebarCount(roomId) {
    const b = document.querySelector(`.room-item[data-room="${CSS.escape(roomId)}"] .count`);
    if (b) b.textContent = String(snaps[roomId].waiting.length);
  }

  async function ensureSession() {
    const r = await fetch('/auth/me', { credentials: 'same-origin' });
    if (r.ok) { me = await r.json(); return true; }
    if (await NFCH.refreshSession()) {
      const again = await fetch('/auth/me', { credentials: 'same-origin' });
      if (again.ok) { me = await again.json(); return true; }
    }
    window.location.assign('/staff/login');
    return false;
  }

  // ------------------------------------------------------------------ patient drawer

  let openVisit = null;

  async function openPatient(visitId) {
    openVisit = visitId;
    const drawer = document.getElementById('drawer');
    const body = document.getElementById('drawer-body');
    try {
      const d = await api('GET', `/api/v1/visits/${encodeURIComponent(visitId)}`);
      const v = d.visit;
      const room = v.room_id && roomById[v.room_id];
      const kv = el('dl', { class: 'kv' },
        el('dt', { text: t('reg') }), el('dd', { text: v.registration_no }),
        el('dt', { text: t('state') }), el('dd', { text: stateName(v.state) }),
        el('dt', { text: t('room') }), el('dd', { text: room ? tr(room.name) : '-' }),
        el('dt', { text: t('ticket') }), el('dd', { text: v.ticket_number === null ? '-' : String(v.ticket_number) }),
        el('dt', { text: t('visit') }), el('dd', { text: v.visit_id }));
      const steps = el('ol', { class: 'steps-mini' }, v.steps.map((s, i) => el('li', {
        class: s.done ? 'done' : (i === v.current_step ? 'current' : ''),
        text: `${i + 1}. ${tr(s.label)}` })));
      const timeline = el('ol', { class: 'timeline' }, d.journey.map((a) => el('li', {},
        el('div', { class: 'when', text: `${fmtTime(a.at)} · ${a.actor} (${a.trigger})` }),
        el('div', { class: 'what', text: `${actionName(a.action)}: ${stateName(a.from_state)} → ${stateName(a.to_state)}` }),
        a.room_id && roomById[a.room_id] ? el('div', { text: tr(roomById[a.room_id].name) }) : null)));
      const linkBox = el('div', {});
      const linkBtn = can('patient.phone_link') ? el('button', { class: 'btn', type: 'button', text: t('phoneLink'),
        onclick: async () => {
          try {
            const r = await api('POST', `/staff/api/visits/${encodeURIComponent(visitId)}/phone-link`);
            const img = el('img', { class: 'qr', alt: 'QR', src: `data:image/svg+xml;base64,${btoa(r.qr_svg)}` });
            linkBox.replaceChildren(el('p', { text: t('phoneLinkHelp') }), img, el('div', { class: 'link-box', text: r.url }));
          } catch (e) { failed(e); }
        } }) : null;
      body.replaceChildren(
        el('h3', { text: v.patient_name, dataset: { testid: 'patient-name' } }),
        el('div', { class: 'meta', text: v.masked_name }),
        kv, el('h4', { text: t('steps') }), steps,
        el('h4', { text: t('journey') }), timeline, linkBtn, linkBox);
      drawer.hidden = false;
    } catch (e) { failed(e); }
  }

  // ------------------------------------------------------------------ search and fleet

  async function search(q) {
    const tbody = document.querySelector('#search-results tbody');
    try {
      const r = await api('GET', `/staff/api/search?q=${encodeURIComponent(q)}`);
      if (!r.items.length) {
        tbody.replaceChildren(el('tr', {}, el('td', { colspan: '5', class: 'none', text: t('noResults') })));
        return;
      }
      tbody.replaceChildren(...r.items.map((v) => el('tr', { dataset: { visit: v.visit_id }, onclick: () => openPatient(v.visit_id) },
        el('td', { text: v.ticket_number === null ? '-' : String(v.ticket_number) }),
        el('td', { text: v.patient_name }),
        el('td', { text: v.registration_no }),
        el('td', { text: v.room_id && roomById[v.room_id] ? tr(roomById[v.room_id].name) : '-' }),
        el('td', {}, el('span', { class: 'chip', text: stateName(v.state) })))));
    } catch (e) { failed(e); }
  }

  function ago(iso) {
    if (!iso) return '-';
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    return s < 120 ? `${s}${t('sec')} ${t('ago')}` : `${Math.round(s / 60)}${t('min')} ${t('ago')}`;
  }

  async function revokeStation(stationId) {
    if (await modal(t('fleet.confirmRevoke'), []) !== 'ok') return;
    try {
      await api('POST', `/api/v1/stations/${encodeURIComponent(stationId)}/revoke`);
      toast(`${stationId} · ${t('fleet.revoked')}`);
      loadFleet();
    } catch (e) { failed(e); }
  }

  async function loadFleet() {
    const tbody = document.querySelector('#fleet tbody');
    if (!can('fleet.read')) {
      tbody.replaceChildren(el('tr', {}, el('td', { colspan: '10', class: 'none', text: t('noAccess') })));
      return;
    }
    try {
      const r = await api('GET', '/api/v1/stations');
      tbody.replaceChildren(...r.items.map((s) => {
        const status = s.online === null ? 'unknown' : (s.online ? 'on' : 'off');
        const readers = (s.readers || []).map((x) => el('span', {
          class: 'chip ' + (x.status === 'ok' ? 'chip-ok' : 'chip-bad'), title: x.detail || '',
          text: `${x.name} (${x.driver}) ${x.status}` }));
        return el('tr', { dataset: { station: s.station_id } },
          el('td', {}, el('b', { text: s.station_id }), el('div', { class: 'meta', text: s.name ? tr(s.name) : '' })),
          el('td', {}, el('span', { class: `dot dot-${status}` }), t(status === 'on' ? 'online' : (status === 'off' ? 'offline' : 'unknown'))),
          el('td', { text: ago(s.last_seen) }),
          el('td', { text: s.software_version || '-' }),
          el('td', { text: s.outbox_depth === null ? '-' : String(s.outbox_depth) }),
          el('td', { text: s.oldest_unsent_age_s === null ? '-' : `${s.oldest_unsent_age_s}${t('sec')}` }),
          el('td', {}, readers.length ? readers : '-'),
          el('td', { text: s.clock_offset_ms === null ? '-' : `${s.clock_offset_ms} ms` }),
          el('td', { text: s.acked_through === null ? '-' : String(s.acked_through) }),
          el('td', {}, can('station.revoke') ? el('button', { class: 'btn btn-danger', type: 'button',
            text: t('fleet.revoke'), dataset: { revoke: s.station_id },
            onclick: () => revokeStation(s.station_id) }) : ''));
      }));
    } catch (e) { failed(e); }
  }

  // ------------------------------------------------------------------ analytics

  const SVG = 'http://www.w3.org/2000/svg';
  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function barChart(points, cls) {
    const w = 560; const h = 200; const pad = 26;
    const max = Math.max(1, ...points.map((p) => p.value || 0));
    const svg = svgEl('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img' });
    for (let i = 0; i <= 4; i++) {
      const y = pad + ((h - 2 * pad) * i) / 4;
      svg.append(svgEl('line', { x1: pad, x2: w - 4, y1: y, y2: y, class: 'grid-line' }));
    }
    const bw = (w - pad - 4) / Math.max(points.length, 1);
    points.forEach((p, i) => {
      const v = p.value || 0;
      const bh = ((h - 2 * pad) * v) / max;
      const x = pad + i * bw + bw * 0.15;
      svg.append(svgEl('rect', { x, y: h - pad - bh, width: bw * 0.7, height: bh, rx: 3, class: `bar ${cls}` }));
      if (p.value !== null) svg.append(svgEl('text', { x: x + bw * 0.35, y: h - pad - bh - 4, 'text-anchor': 'middle', class: 'val' }, String(p.value)));
      svg.append(svgEl('text', { x: x + bw * 0.35, y: h - 8, 'text-anchor': 'middle', class: 'axis' }, p.label));
    });
    return svg;
  }

  async function loadAnalytics() {
    try {
      const d = await api('GET', '/staff/api/analytics');
      const card = (k, v) => el('div', { class: 'an-card' }, el('div', { class: 'k', text: t(k) }), el('div', { class: 'v', text: v }));
      const pct = (x) => (x === null ? '-' : `${Math.round(x * 1000) / 10}%`);
      const mins = (x) => (x === null ? '-' : `${x}${t('min')}`);
      document.getElementById('an-cards').replaceChildren(
        card('an.total', String(d.totals.completed)), card('an.noShow', pct(d.totals.no_show_rate)),
        card('an.medWait', mins(d.totals.wait_median_min)));
      const roomName = (id) => (roomById[id] ? tr(roomById[id].name) : id);
      document.getElementById('an-bottleneck').replaceChildren(
        el('b', { text: `${t('an.bottleneck')}:` }),
        d.bottlenecks.length ? d.bottlenecks.map((id) => el('span', { class: 'chip chip-warn', text: roomName(id) })) : el('span', { text: t('an.none') }));
      const hours = d.hours.map((h) => ({ label: `${h.hour}`, value: h.completed }));
      document.getElementById('an-hours').replaceChildren(barChart(hours, ''));
      const waits = d.hours.map((h) => ({ label: `${h.hour}`, value: h.wait_median_min }));
      document.getElementById('an-waits').replaceChildren(barChart(waits, 'wait'));
      const worst = [...d.rooms].sort((a, b) => (b.wait_median_min ?? -1) - (a.wait_median_min ?? -1));
      document.querySelector('#an-rooms tbody').replaceChildren(...worst.map((r) => el('tr', { class: 'static', dataset: { room: r.room_id } },
        el('td', {}, el('b', { text: roomName(r.room_id) })),
        el('td', { text: String(r.completed) }), el('td', { text: pct(r.no_show_rate) }),
        el('td', { text: mins(r.wait_median_min) }), el('td', { text: mins(r.wait_p90_min) }),
        el('td', { text: mins(r.service_median_min) }),
        el('td', {}, el('span', { class: 'chip ' + (r.growth_30min > 0 ? 'chip-warn' : ''), text: (r.growth_30min > 0 ? '+' : '') + r.growth_30min })))));
    } catch (e) { failed(e); }
  }

  // ------------------------------------------------------------------ staff accounts

  async function loadUsers() {
    const tbody = document.querySelector('#users tbody');
    try {
      const r = await api('GET', '/staff/api/users');
      tbody.replaceChildren(...r.items.map((u) => {
        const change = (what) => async () => {
          try { await api('POST', `/staff/api/users/${encodeURIComponent(u.user_id)}/${what}`); toast(t('done')); loadUsers(); } catch (e) { failed(e); }
        };
        return el('tr', { class: 'static', dataset: { user: u.username } },
          el('td', {}, el('b', { text: u.username })),
          el('td', { text: u.name }),
          el('td', { text: t('role_' + u.role) }),
          el('td', {}, el('span', { class: 'chip ' + (u.active ? 'chip-ok' : 'chip-bad'), text: t(u.active ? 'active' : 'disabled') })),
          el('td', { class: 'acts' },
            u.user_id === me.user_id ? null : actButton(t(u.active ? 'disable' : 'enable'), u.active ? 'btn-danger' : 'btn-ok', change(u.active ? 'disable' : 'enable'), u.active ? 'disable' : 'enable'),
            actButton(t('endSessions'), '', change('end-sessions'), 'end-sessions')));
      }));
    } catch (e) { failed(e); }
  }

  async function createUser(ev) {
    ev.preventDefault();
    const f = (id) => document.getElementById(id);
    try {
      await api('POST', '/staff/api/users', {
        username: f('new-username').value.trim().toLowerCase(), name: f('new-name').value.trim(),
        role: f('new-role').value, password: f('new-password').value,
      });
      f('user-form').reset();
      toast(t('created'));
      loadUsers();
    } catch (e) { failed(e); }
  }

  // ------------------------------------------------------------------ wiring

  function showTab(name) {
    for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === name);
    for (const p of document.querySelectorAll('.tab-panel')) p.hidden = p.id !== `tab-${name}`;
    document.getElementById('sidebar').hidden = name !== 'queues';
    if (name === 'fleet') loadFleet();
    if (name === 'admin') loadUsers();
    if (name === 'analytics') loadAnalytics();
  }

  function setLang(l) {
    lang = STR[l] ? l : 'ko';
    localStorage.setItem('nfch.staff.lang', lang);
    document.documentElement.lang = lang;
    applyI18n(STR[lang]);
    document.getElementById('lang-toggle').textContent = t('langToggle');
    if (me) document.getElementById('user-role').textContent = t('role_' + me.role);
    const brand = document.querySelector('.brand-name');
    brand.textContent = brand.dataset[lang] || brand.dataset.ko;
    renderSidebar();
    renderBoards();
    if (openVisit && !document.getElementById('drawer').hidden) openPatient(openVisit);
    if (!document.getElementById('tab-analytics').hidden) loadAnalytics();
    if (!document.getElementById('tab-fleet').hidden) loadFleet();
  }

  function tick() {
    document.getElementById('clock').textContent = hms(new Date());
  }

  async function start() {
    if (!await ensureSession()) return;
    document.getElementById('user-name').textContent = me.name;
    for (const b of document.querySelectorAll('.tab')) {
      b.addEventListener('click', () => showTab(b.dataset.tab));
      if (b.dataset.tab === 'search') b.hidden = !can('patient.search');
      if (b.dataset.tab === 'fleet') b.hidden = !can('fleet.read');
      if (b.dataset.tab === 'admin') b.hidden = !can('staff.manage');
      if (b.dataset.tab === 'analytics') b.hidden = !can('analytics.read');
    }
    document.getElementById('lang-toggle').addEventListener('click', () => setLang(lang === 'ko' ? 'en' : 'ko'));
    document.getElementById('drawer-close').addEventListener('click', () => {
      document.getElementById('drawer').hidden = true;
      openVisit = null;
    });
    document.getElementById('user-form').addEventListener('submit', createUser);
    document.getElementById('search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = document.getElementById('search-q').value.trim();
      if (q) search(q);
    });
    document.getElementById('logout').addEventListener('click', async () => {
      try { await api('POST', '/auth/logout'); } catch (e) { /* logged out either way */ }
      window.location.assign('/staff/login');
    });
    const doc = await api('GET', '/api/v1/rooms');
    rooms = doc.rooms;
    for (const r of rooms) roomById[r.room_id] = r;
    const want = new URLSearchParams(location.search).get('rooms');
    if (want) { selected.clear(); for (const id of want.split(',')) if (roomById[id]) selected.add(id); }
    for (const id of [...selected]) if (!roomById[id]) selected.delete(id);
    if (!selected.size && rooms.length) selected.add(rooms[0].room_id);
    setLang(lang);
    for (const id of selected) loadNames(id);
    tick();
    setInterval(tick, 1000);
    wsConnect();
  }

  start().catch((e) => { console.error(e); failed(e); });
})();
