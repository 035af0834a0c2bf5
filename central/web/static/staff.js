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
      'tab.admin': '관리', 'admin.username': '아이디', 'admin.name': '이름', 'admin.role': '역할',
      'admin.state': '상태', 'admin.password': '초기 비밀번호 (10자 이상)', 'admin.create': '직원 추가',
      active: '사용 중', disabled: '사용 중지', disable: '사용 중지', enable: '다시 사용',
      endSessions: '모든 기기 로그아웃', created: '직원을 추가했습니다',
      'sub.users': '직원 계정', 'sub.codes': '스테이션 등록 코드', 'sub.closures': '통제 구역',
      'sub.settings': '운영 설정',
      'codes.help': '새 스테이션(또는 교체한 라즈베리 파이)에 입력할 일회용 등록 코드를 만듭니다. 코드는 만들 때 한 번만 보여 주며, 서버에는 해시만 저장됩니다.',
      'codes.name': '스테이션 이름 (예: 2층 내과 접수)', 'codes.nameEn': '영문 이름 (선택)',
      'codes.noLocation': '위치 지정 안 함', 'codes.newStation': '새 스테이션', 'codes.replace': '교체',
      'codes.create': '등록 코드 만들기', 'codes.where': '위치', 'codes.status': '상태',
      'codes.by': '만든 사람', 'codes.created': '만든 시각', 'codes.expires': '만료', 'codes.used': '사용',
      code_pending: '사용 대기', code_used: '사용됨', code_expired: '만료됨', code_revoked: '취소됨',
      'codes.revoke': '코드 취소', 'codes.confirmRevoke': '이 스테이션의 아직 쓰지 않은 등록 코드를 취소할까요?',
      'codes.issuedTitle': '등록 코드 — 지금 한 번만 보입니다', 'codes.issuedFor': '스테이션',
      'codes.validUntil': '유효 기한', 'codes.onPi': '라즈베리 파이에서 실행', 'codes.hide': '닫기',
      'codes.none': '최근 7일 동안 만든 코드가 없습니다.', 'codes.revoked': '코드를 취소했습니다',
      'closures.help': '통제한 곳은 환자 휴대폰 안내, 스테이션과 안내 화면의 길 찾기에서 바로 피해 갑니다.',
      'closures.reason': '사유 (예: 정기 점검)', 'closures.reasonEn': '영문 사유 (예: Maintenance)',
      'closures.until': '다시 여는 시각 (선택)', 'closures.close': '통제하기', 'closures.place': '장소',
      'closures.floor': '층', 'closures.why': '사유', 'closures.untilCol': '다시 열림',
      'closures.source': '설정', src_api: '대시보드', src_map_file: '지도 파일',
      'closures.reopen': '다시 열기', 'closures.groups': '엘리베이터·계단 전체 (모든 층)',
      'closures.nodes': '개별 장소', 'closures.none': '통제 중인 곳이 없습니다.',
      'closures.confirmReopen': '이곳을 다시 열까요?', 'closures.closed': '통제했습니다',
      'closures.reopened': '다시 열었습니다', 'closures.fileOnly': '지도 파일에서 변경',
      'closures.unknownUntil': '미정', kind_elevator: '엘리베이터', kind_stairs: '계단',
      kind_escalator: '에스컬레이터',
      'settings.save': '저장', 'settings.history': '변경 기록', 'settings.at': '시각',
      'settings.who': '변경한 사람', 'settings.key': '설정', 'settings.before': '이전', 'settings.after': '이후',
      'settings.from': '적용일', 'settings.saved': '저장했습니다', 'settings.nothing': '바뀐 값이 없습니다',
      'settings.today': '오늘 운영일', 'settings.fromConfig': '설정 파일 값', 'settings.asConfig': '설정 파일 값 그대로', 'settings.changed': '변경',
      'settings.pending': '예정', 'settings.readonly': '읽기 전용',
      'settings.noHistory': '아직 바꾼 적이 없습니다.',
      set_day_starts_at: '운영일 시작 시각',
      help_day_starts_at: '이 시각에 하루의 대기열과 번호표가 새로 시작됩니다. 바꾸면 아직 시작하지 않은 다음 운영일부터 적용됩니다.',
      set_missed_requeue_after: '부재 후 다시 대기 (N명 뒤)',
      help_missed_requeue_after: '호출에 오지 않은 환자를 대기 중인 N명 뒤로 다시 줄 세웁니다.',
      set_no_show_after_calls: '노쇼 처리 호출 횟수 (K회)',
      help_no_show_after_calls: 'K번 호출한 뒤 부재로 처리하면 노쇼가 됩니다.',
      set_lease_block_size: '번호표 묶음 크기',
      help_lease_block_size: '스테이션이 서버와 끊겨도 번호표를 줄 수 있도록 한 번에 나눠 주는 번호 수.',
      set_lease_low_water: '번호표 보충 기준',
      help_lease_low_water: '남은 번호가 이보다 적으면 새 묶음을 줍니다 (묶음 크기보다 작아야 합니다).',
      set_lease_days_ahead: '미리 준비할 운영일 수',
      help_lease_days_ahead: '다음 운영일의 번호도 미리 나눠 줍니다 (밤새 오프라인인 스테이션용).',
      set_timezone: '시간대',
      'an.today': '오늘', 'an.yesterday': '어제', 'an.last7': '최근 7일', 'an.last30': '최근 30일',
      'an.from': '시작일', 'an.to': '종료일', 'an.show': '보기', 'an.byDay': '날짜별 진료 완료',
      'an.totalRange': '기간 내 완료', 'an.days': '일',
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
      'tab.admin': 'Admin', 'admin.username': 'User name', 'admin.name': 'Name', 'admin.role': 'Role',
      'admin.state': 'State', 'admin.password': 'First password (10+ characters)',
      'admin.create': 'Add staff', active: 'Active', disabled: 'Disabled', disable: 'Disable',
      enable: 'Enable', endSessions: 'Log out everywhere', created: 'Staff member added',
      'sub.users': 'Staff accounts', 'sub.codes': 'Enrolment codes', 'sub.closures': 'Closures',
      'sub.settings': 'Service day',
      'codes.help': 'Make a one-time code to type on a new station (or a replaced Raspberry Pi). The code is shown once, when it is made; the server keeps only its hash.',
      'codes.name': 'Station name (e.g. 2F internal medicine desk)', 'codes.nameEn': 'English name (optional)',
      'codes.noLocation': 'No map location', 'codes.newStation': 'New station', 'codes.replace': 'Replace',
      'codes.create': 'Make enrolment code', 'codes.where': 'Location', 'codes.status': 'Status',
      'codes.by': 'Made by', 'codes.created': 'Made', 'codes.expires': 'Expires', 'codes.used': 'Used',
      code_pending: 'Pending', code_used: 'Used', code_expired: 'Expired', code_revoked: 'Revoked',
      'codes.revoke': 'Revoke code', 'codes.confirmRevoke': "Revoke this station's unused enrolment code?",
      'codes.issuedTitle': 'Enrolment code — shown only now', 'codes.issuedFor': 'Station',
      'codes.validUntil': 'Valid until', 'codes.onPi': 'On the Raspberry Pi, run', 'codes.hide': 'Close',
      'codes.none': 'No codes made in the last 7 days.', 'codes.revoked': 'Code revoked',
      'closures.help': "Closed places are avoided at once by the patients' phone page and by the routes of stations and kiosks.",
      'closures.reason': 'Reason in Korean (e.g. 정기 점검)', 'closures.reasonEn': 'Reason in English (e.g. Maintenance)',
      'closures.until': 'Reopens at (optional)', 'closures.close': 'Close', 'closures.place': 'Place',
      'closures.floor': 'Floor', 'closures.why': 'Reason', 'closures.untilCol': 'Reopens',
      'closures.source': 'Set in', src_api: 'Dashboard', src_map_file: 'Map file',
      'closures.reopen': 'Reopen', 'closures.groups': 'Whole elevator or stairs (every floor)',
      'closures.nodes': 'Single places', 'closures.none': 'Nothing is closed.',
      'closures.confirmReopen': 'Reopen this place?', 'closures.closed': 'Closed',
      'closures.reopened': 'Reopened', 'closures.fileOnly': 'Change in the map file',
      'closures.unknownUntil': 'Not known', kind_elevator: 'Elevator', kind_stairs: 'Stairs',
      kind_escalator: 'Escalator',
      'settings.save': 'Save', 'settings.history': 'Changes', 'settings.at': 'When',
      'settings.who': 'Who', 'settings.key': 'Setting', 'settings.before': 'Before', 'settings.after': 'After',
      'settings.from': 'From day', 'settings.saved': 'Saved', 'settings.nothing': 'Nothing changed',
      'settings.today': "Today's service day", 'settings.fromConfig': 'config file value', 'settings.asConfig': 'As in the config file', 'settings.changed': 'Changed',
      'settings.pending': 'Scheduled', 'settings.readonly': 'Read-only',
      'settings.noHistory': 'Never changed here.',
      set_day_starts_at: 'Service day starts at',
      help_day_starts_at: "The day's queues and ticket numbers start afresh at this time. A change applies from the next service day that has not begun.",
      set_missed_requeue_after: 'Missed call: back after N others',
      help_missed_requeue_after: 'A called patient who did not come goes back in line after N waiting patients.',
      set_no_show_after_calls: 'No-show after K calls',
      help_no_show_after_calls: 'Marking a patient missed after K calls makes them a no-show.',
      set_lease_block_size: 'Ticket block size',
      help_lease_block_size: 'Ticket numbers handed to a station at a time, so it can issue numbers while offline.',
      set_lease_low_water: 'Ticket top-up mark',
      help_lease_low_water: 'A new block is handed out when fewer numbers than this are left (smaller than the block size).',
      set_lease_days_ahead: 'Service days leased ahead',
      help_lease_days_ahead: "Also hand out numbers for coming service days (for stations offline overnight).",
      set_timezone: 'Time zone',
      'an.today': 'Today', 'an.yesterday': 'Yesterday', 'an.last7': 'Last 7 days', 'an.last30': 'Last 30 days',
      'an.from': 'From', 'an.to': 'To', 'an.show': 'Show', 'an.byDay': 'Completed per day',
      'an.totalRange': 'Done in range', 'an.days': 'days',
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

  function barChart(points, cls, width) {
    const w = width || 560; const h = 200; const pad = 26;
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

  // The selection: null = today (follows the service day); else YYYY-MM-DD strings.
  const an = { from: null, to: null, today: null };

  function shiftDay(iso, days) {
    const d = new Date(`${iso}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }

  function anQuery() {
    return an.from ? `?from=${encodeURIComponent(an.from)}&to=${encodeURIComponent(an.to)}` : '';
  }

  function pickRange(kind) {
    const today = an.today;
    if (kind === 'today' || !today) { an.from = null; an.to = null; }
    else if (kind === 'yesterday') { an.from = shiftDay(today, -1); an.to = an.from; }
    else { an.from = shiftDay(today, -(Number(kind) - 1)); an.to = today; }
    loadAnalytics();
  }

  function pickDates(ev) {
    ev.preventDefault();
    const f = document.getElementById('an-from').value;
    const to = document.getElementById('an-to').value || f;
    if (!f) { pickRange('today'); return; }
    an.from = f; an.to = to;
    loadAnalytics();
  }

  async function loadAnalytics() {
    try {
      const d = await api('GET', `/staff/api/analytics${anQuery()}`);
      an.today = d.today;
      const single = d.from === d.to;
      document.getElementById('an-from').value = d.from;
      document.getElementById('an-to').value = d.to;
      document.getElementById('an-from').max = d.today;
      document.getElementById('an-to').max = d.today;
      document.getElementById('an-label').textContent = single ? d.from : `${d.from} – ${d.to}`;
      document.getElementById('an-csv').setAttribute('href', `/staff/api/analytics.csv${anQuery()}`);
      document.body.dataset.anRange = `${d.from}/${d.to}`;
      const card = (k, v) => el('div', { class: 'an-card' }, el('div', { class: 'k', text: t(k) }), el('div', { class: 'v', text: v }));
      const pct = (x) => (x === null ? '-' : `${Math.round(x * 1000) / 10}%`);
      const mins = (x) => (x === null ? '-' : `${x}${t('min')}`);
      const isToday = single && d.to === d.today;
      document.getElementById('an-cards').replaceChildren(
        card(isToday ? 'an.total' : 'an.totalRange', String(d.totals.completed)), card('an.noShow', pct(d.totals.no_show_rate)),
        card('an.medWait', mins(d.totals.wait_median_min)));
      const roomName = (id) => (roomById[id] ? tr(roomById[id].name) : id);
      const live = d.to === d.today;
      const bn = document.getElementById('an-bottleneck');
      bn.hidden = !live;
      bn.replaceChildren(
        el('b', { text: `${t('an.bottleneck')}:` }),
        ...(d.bottlenecks.length ? d.bottlenecks.map((id) => el('span', { class: 'chip chip-warn', text: roomName(id) })) : [el('span', { text: t('an.none') })]));
      const hours = d.hours.map((h) => ({ label: `${h.hour}`, value: h.completed }));
      document.getElementById('an-hours').replaceChildren(barChart(hours, ''));
      const waits = d.hours.map((h) => ({ label: `${h.hour}`, value: h.wait_median_min }));
      document.getElementById('an-waits').replaceChildren(barChart(waits, 'wait'));
      const daysFig = document.getElementById('an-days-fig');
      daysFig.hidden = single;
      if (!single) {
        const days = d.days.map((x) => ({ label: x.day.slice(5), value: x.completed }));
        document.getElementById('an-days').replaceChildren(barChart(days, 'day', 1160));
      }
      const worst = [...d.rooms].sort((a, b) => (b.wait_median_min ?? -1) - (a.wait_median_min ?? -1));
      document.querySelector('#an-rooms tbody').replaceChildren(...worst.map((r) => el('tr', { class: 'static', dataset: { room: r.room_id } },
        el('td', {}, el('b', { text: roomName(r.room_id) })),
        el('td', { text: String(r.completed) }), el('td', { text: pct(r.no_show_rate) }),
        el('td', { text: mins(r.wait_median_min) }), el('td', { text: mins(r.wait_p90_min) }),
        el('td', { text: mins(r.service_median_min) }),
        el('td', {}, r.growth_30min === null ? '-' : el('span', { class: 'chip ' + (r.growth_30min > 0 ? 'chip-warn' : ''), text: (r.growth_30min > 0 ? '+' : '') + r.growth_30min })))));
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

  // ------------------------------------------------------------------ admin: sub-pages

  const SUBS = [['users', 'staff.manage'], ['codes', 'station.enrol'], ['closures', 'map.closures'],
    ['settings', 'settings.manage']];
  let adminSub = null;

  function showSub(name) {
    adminSub = name;
    for (const b of document.querySelectorAll('.subtab')) b.classList.toggle('active', b.dataset.sub === name);
    for (const p of document.querySelectorAll('.sub-panel')) p.hidden = p.id !== `sub-${name}`;
    if (name === 'users') loadUsers();
    if (name === 'codes') loadCodes();
    if (name === 'closures') loadClosures();
    if (name === 'settings') loadSettings();
  }

  function firstSub() {
    const ok = SUBS.find(([, action]) => can(action));
    return ok ? ok[0] : null;
  }

  const fmtDateTime = (iso) => {
    if (!iso) return '-';
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  };

  let places = null; // the map's floors, places and vertical groups
  async function loadPlaces() {
    if (places) return places;
    places = await api('GET', '/staff/api/map');
    places.byId = {};
    for (const n of places.nodes) places.byId[n.node_id] = n;
    return places;
  }
  const placeName = (id) => {
    const n = places && places.byId[id];
    if (!n) return id;
    return n.name ? tr(n.name) : id;
  };

  function fillSelect(select, first, groups) {
    const keep = select.value;
    select.replaceChildren(...(first ? [first] : []), ...groups);
    if ([...select.querySelectorAll('option')].some((o) => o.value === keep)) select.value = keep;
  }

  // -- enrolment codes

  async function loadCodes() {
    const tbody = document.querySelector('#codes tbody');
    try {
      await loadPlaces();
      fillSelect(document.getElementById('code-location'),
        el('option', { value: '', text: t('codes.noLocation') }),
        places.nodes.filter((n) => n.kind !== 'corridor').map((n) => el('option', { value: n.node_id,
          text: `${n.floor} · ${n.name ? tr(n.name) : n.node_id} (${n.node_id})` })));
      const stations = can('fleet.read') ? (await api('GET', '/api/v1/stations')).items : [];
      fillSelect(document.getElementById('code-station'),
        el('option', { value: '', text: t('codes.newStation') }),
        stations.map((x) => el('option', { value: x.station_id, text: `${t('codes.replace')}: ${x.station_id}` })));
      const r = await api('GET', '/api/v1/stations/enrolment-codes');
      if (!r.codes.length) {
        tbody.replaceChildren(el('tr', { class: 'static' }, el('td', { colspan: '8', class: 'none', text: t('codes.none') })));
        return;
      }
      const cls = { pending: 'chip-warn', used: 'chip-ok', expired: '', revoked: 'chip-bad' };
      tbody.replaceChildren(...r.codes.map((c) => el('tr', { class: 'static', dataset: { station: c.station_id, status: c.status } },
        el('td', {}, el('b', { text: c.station_id }), el('div', { class: 'meta', text: tr(c.name) })),
        el('td', { text: c.node_id ? placeName(c.node_id) : '-' }),
        el('td', {}, el('span', { class: `chip ${cls[c.status]}`, text: t(`code_${c.status}`) })),
        el('td', { text: c.created_by }),
        el('td', { text: fmtDateTime(c.created_at) }),
        el('td', { text: fmtDateTime(c.revoked_at || c.expires_at) }),
        el('td', { text: c.used_at ? `${fmtDateTime(c.used_at)} ${c.used_by_host || ''}` : '-' }),
        el('td', { class: 'acts' }, c.status === 'pending'
          ? actButton(t('codes.revoke'), 'btn-danger', () => revokeCodes(c.station_id), 'revoke-code') : null))));
    } catch (e) { failed(e); }
  }

  async function createCode(ev) {
    ev.preventDefault();
    const f = (id) => document.getElementById(id);
    const body = { name: f('code-name').value.trim() };
    if (f('code-name-en').value.trim()) body.name_en = f('code-name-en').value.trim();
    if (f('code-location').value) body.location = f('code-location').value;
    if (f('code-station').value) body.station_id = f('code-station').value;
    const box = f('code-issued');
    box.hidden = true; // a code is shown once: the previous one goes away now
    box.replaceChildren();
    try {
      const c = await api('POST', '/api/v1/stations/enrolment-codes', body);
      box.replaceChildren(
        el('div', { class: 'issued-title', text: t('codes.issuedTitle') }),
        el('div', { class: 'code-big', id: 'issued-code', text: c.code }),
        el('dl', { class: 'kv' },
          el('dt', { text: t('codes.issuedFor') }), el('dd', { text: c.station_id }),
          el('dt', { text: t('codes.validUntil') }), el('dd', { text: fmtDateTime(c.expires_at) }),
          el('dt', { text: t('codes.onPi') }),
          el('dd', {}, el('code', { text: `sudo nfc-hospital provision --central ${location.origin} --code ${c.code}` }))),
        el('button', { class: 'btn', type: 'button', text: t('codes.hide'), onclick: () => { box.hidden = true; box.replaceChildren(); } }));
      box.hidden = false;
      f('code-form').reset();
      loadCodes();
    } catch (e) { failed(e); }
  }

  async function revokeCodes(stationId) {
    if (await modal(t('codes.confirmRevoke'), [el('p', { text: stationId })]) !== 'ok') return;
    try {
      await api('POST', `/api/v1/stations/enrolment-codes/${encodeURIComponent(stationId)}/revoke`);
      toast(`${stationId} · ${t('codes.revoked')}`);
      loadCodes();
    } catch (e) { failed(e); }
  }

  // -- map closures

  async function loadClosures() {
    const tbody = document.querySelector('#closures tbody');
    try {
      await loadPlaces();
      fillSelect(document.getElementById('closure-target'), null, [
        el('optgroup', { label: t('closures.groups') }, places.groups.map((g) => el('option', {
          value: `group:${g.group}`, text: `${t('kind_' + g.kind)} · ${g.name ? tr(g.name) : g.group} (${g.floors.join(', ')})` }))),
        el('optgroup', { label: t('closures.nodes') }, places.nodes.map((n) => el('option', {
          value: `node:${n.node_id}`, text: `${n.floor} · ${n.name ? tr(n.name) : n.node_id} (${n.node_id})` }))),
      ]);
      const r = await api('GET', '/api/v1/map/closures');
      if (!r.closures.length) {
        tbody.replaceChildren(el('tr', { class: 'static' }, el('td', { colspan: '6', class: 'none', text: t('closures.none') })));
        return;
      }
      tbody.replaceChildren(...r.closures.map((c) => el('tr', { class: 'static', dataset: { node: c.node_id, source: c.source } },
        el('td', {}, el('b', { text: placeName(c.node_id) }), el('div', { class: 'meta', text: c.node_id })),
        el('td', { text: (places.byId[c.node_id] || {}).floor || '-' }),
        el('td', { text: tr(c.reason) }),
        el('td', { text: c.until ? fmtDateTime(c.until) : t('closures.unknownUntil') }),
        el('td', {}, el('span', { class: 'chip', text: t(`src_${c.source}`) })),
        el('td', { class: 'acts' }, c.source === 'api'
          ? actButton(t('closures.reopen'), 'btn-ok', () => reopen(c.node_id), 'reopen')
          : el('span', { class: 'meta', text: t('closures.fileOnly') })))));
    } catch (e) { failed(e); }
  }

  async function closePlace(ev) {
    ev.preventDefault();
    const f = (id) => document.getElementById(id);
    const [kind, id] = f('closure-target').value.split(/:(.*)/s);
    const body = { reason: { ko: f('closure-reason').value.trim(), en: f('closure-reason-en').value.trim() } };
    body[kind === 'group' ? 'group' : 'node_id'] = id;
    if (f('closure-until').value) body.until = new Date(f('closure-until').value).toISOString();
    try {
      await api('POST', '/api/v1/map/closures', body);
      toast(t('closures.closed'));
      f('closure-reason').value = ''; f('closure-reason-en').value = ''; f('closure-until').value = '';
      loadClosures();
    } catch (e) { failed(e); }
  }

  async function reopen(nodeId) {
    if (await modal(t('closures.confirmReopen'), [el('p', { text: placeName(nodeId) })]) !== 'ok') return;
    try {
      await api('DELETE', `/api/v1/map/closures/${encodeURIComponent(nodeId)}`);
      toast(t('closures.reopened'));
      loadClosures();
    } catch (e) { failed(e); }
  }

  // -- service-day settings

  let settingsDoc = null;

  function settingRow(s) {
    const shown = s.pending_value || s.value;
    const input = s.key === 'day_starts_at'
      ? el('input', { id: `set-${s.key}`, type: 'time', value: shown, required: true })
      : el('input', { id: `set-${s.key}`, type: 'number', value: String(shown), min: s.minimum ?? null, max: s.maximum ?? null, step: '1', required: true });
    input.dataset.key = s.key;
    const info = [];
    if (s.source === 'admin') info.push(`${t('settings.changed')}: ${s.updated_by} · ${fmtDateTime(s.updated_at)} (${t('settings.fromConfig')} ${s.config_value})`);
    else info.push(t('settings.asConfig'));
    if (s.minimum !== null && s.minimum !== undefined) info.push(`${s.minimum}–${s.maximum}`);
    return el('div', { class: 'setting', dataset: { setting: s.key } },
      el('label', { for: `set-${s.key}`, class: 'setting-label', text: t(`set_${s.key}`) }),
      input,
      el('div', { class: 'setting-help' },
        el('div', { text: t(`help_${s.key}`) }),
        el('div', { class: 'meta', text: info.join(' · ') }),
        s.pending_value ? el('div', { class: 'chip chip-warn', dataset: { pending: s.key },
          text: lang === 'ko'
            ? `${t('settings.pending')}: ${s.pending_from}부터 ${s.pending_value} (지금은 ${s.value})`
            : `${t('settings.pending')}: ${s.pending_value} from ${s.pending_from} (now ${s.value})` }) : null));
  }

  async function loadSettings() {
    try {
      settingsDoc = await api('GET', '/api/v1/admin/settings');
      renderSettings();
    } catch (e) { failed(e); }
  }

  function renderSettings() {
    const d = settingsDoc;
    if (!d) return;
    document.getElementById('settings-error').hidden = true;
    document.getElementById('settings-fields').replaceChildren(...d.settings.map(settingRow),
      el('div', { class: 'setting readonly', dataset: { setting: 'timezone' } },
        el('label', { for: 'set-timezone', class: 'setting-label', text: t('set_timezone') }),
        el('input', { id: 'set-timezone', value: d.timezone, disabled: true }),
        el('div', { class: 'setting-help' }, el('span', { class: 'chip', text: t('settings.readonly') }), ' ', tr(d.timezone_note))));
    document.getElementById('settings-day').textContent = `${t('settings.today')}: ${d.service_day}`;
    const tbody = document.querySelector('#settings-history tbody');
    tbody.replaceChildren(...(d.changes.length ? d.changes.map((c) => el('tr', { class: 'static', dataset: { change: c.key } },
      el('td', { text: fmtDateTime(c.at) }), el('td', { text: c.actor }), el('td', { text: t(`set_${c.key}`) }),
      el('td', { text: c.before === null ? '-' : String(c.before) }), el('td', { text: String(c.after) }),
      el('td', { text: c.effective_day || '-' })))
      : [el('tr', { class: 'static' }, el('td', { colspan: '6', class: 'none', text: t('settings.noHistory') }))]));
  }

  async function saveSettings(ev) {
    ev.preventDefault();
    const err = document.getElementById('settings-error');
    err.hidden = true;
    for (const i of document.querySelectorAll('#settings-fields input')) i.classList.remove('invalid');
    const body = {};
    for (const s of settingsDoc.settings) {
      const raw = document.getElementById(`set-${s.key}`).value.trim();
      const was = String(s.pending_value || s.value);
      if (raw === was) continue;
      body[s.key] = s.key === 'day_starts_at' ? raw : (/^-?\d+$/.test(raw) ? Number(raw) : raw);
    }
    if (!Object.keys(body).length) { toast(t('settings.nothing')); return; }
    try {
      settingsDoc = await api('PUT', '/api/v1/admin/settings', body);
      renderSettings();
      toast(t('settings.saved'));
    } catch (e) {
      if (!(e instanceof ApiError)) { failed(e); return; }
      const detail = (e.body && e.body.error) || {};
      err.textContent = `${e.text(lang)} ${detail.detail || ''}`.trim();
      err.hidden = false;
      const key = (detail.where || '').replace(/^body\./, '');
      const input = document.getElementById(`set-${key}`);
      if (input) { input.classList.add('invalid'); input.focus(); }
    }
  }

  // ------------------------------------------------------------------ wiring

  function showTab(name) {
    for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === name);
    for (const p of document.querySelectorAll('.tab-panel')) p.hidden = p.id !== `tab-${name}`;
    document.getElementById('sidebar').hidden = name !== 'queues';
    if (name === 'fleet') loadFleet();
    if (name === 'admin') showSub(adminSub || firstSub());
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
    if (!document.getElementById('tab-admin').hidden && adminSub) showSub(adminSub);
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
      if (b.dataset.tab === 'admin') b.hidden = !firstSub();
      if (b.dataset.tab === 'analytics') b.hidden = !can('analytics.read');
    }
    document.getElementById('lang-toggle').addEventListener('click', () => setLang(lang === 'ko' ? 'en' : 'ko'));
    document.getElementById('drawer-close').addEventListener('click', () => {
      document.getElementById('drawer').hidden = true;
      openVisit = null;
    });
    document.getElementById('user-form').addEventListener('submit', createUser);
    document.getElementById('code-form').addEventListener('submit', createCode);
    document.getElementById('closure-form').addEventListener('submit', closePlace);
    document.getElementById('settings-form').addEventListener('submit', saveSettings);
    for (const b of document.querySelectorAll('.subtab')) {
      const need = SUBS.find(([name]) => name === b.dataset.sub);
      b.hidden = !(need && can(need[1]));
      b.addEventListener('click', () => showSub(b.dataset.sub));
    }
    document.getElementById('an-range').addEventListener('submit', pickDates);
    for (const b of document.querySelectorAll('[data-range]')) {
      b.addEventListener('click', () => pickRange(b.dataset.range));
    }
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
