"""HTML shells. Every value that is not a literal goes through `esc` (html.escape)."""

from __future__ import annotations

from html import escape

from central.web.config import WebConfig

ASSET_VERSION = "3"  # bump when a script or the stylesheet changes (browser caches)


def esc(value: object) -> str:
    """HTML-escape any value for text or a quoted attribute."""
    return escape(str(value), quote=True)


def _page(
    *, lang: str, title: str, body_class: str, body: str, scripts: list[str], data: dict[str, str]
) -> str:
    attrs = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in data.items())
    tags = "".join(
        f'<script src="/static/{esc(s)}?v={ASSET_VERSION}" defer></script>' for s in scripts
    )
    return (
        "<!doctype html>\n"
        f'<html lang="{esc(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title>"
        f'<link rel="stylesheet" href="/static/app.css?v={ASSET_VERSION}">'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        f"{tags}</head>"
        f'<body class="{esc(body_class)}"{attrs}>{body}</body></html>'
    )


def staff_login(cfg: WebConfig) -> str:
    body = f"""
<main class="login-wrap">
  <form id="login-form" class="login-card" autocomplete="on">
    <div class="brand-mark" aria-hidden="true">+</div>
    <h1><span>{esc(cfg.site_name_ko)}</span><small>{esc(cfg.site_name_en)}</small></h1>
    <p class="login-sub" data-i18n="login.title">외래 대기 관리 시스템 · 직원 로그인</p>
    <label><span data-i18n="login.username">아이디</span>
      <input id="username" name="username" autocomplete="username" required maxlength="64"></label>
    <label><span data-i18n="login.password">비밀번호</span>
      <input id="password" name="password" type="password" autocomplete="current-password"
             required maxlength="256"></label>
    <p id="login-error" class="form-error" role="alert" hidden></p>
    <button type="submit" class="btn btn-primary btn-block" id="login-submit"
            data-i18n="login.submit">로그인</button>
    <div class="lang-switch"><button type="button" data-lang="ko">한국어</button>
      <button type="button" data-lang="en">English</button></div>
  </form>
</main>"""
    return _page(
        lang="ko",
        title=f"{cfg.site_name_ko} · 직원 로그인",
        body_class="page-login",
        body=body,
        scripts=["common.js", "login.js"],
        data={},
    )


def staff_dashboard(cfg: WebConfig) -> str:
    body = f"""
<header class="topbar">
  <div class="brand"><span class="brand-mark small" aria-hidden="true">+</span>
    <span class="brand-name" data-ko="{esc(cfg.site_name_ko)}"
          data-en="{esc(cfg.site_name_en)}">{esc(cfg.site_name_ko)}</span>
    <span class="brand-app" data-i18n="app.title">외래 대기 관리</span></div>
  <nav class="tabs" role="tablist">
    <button class="tab active" data-tab="queues" data-i18n="tab.queues">대기열</button>
    <button class="tab" data-tab="search" data-i18n="tab.search">환자 검색</button>
    <button class="tab" data-tab="analytics" data-i18n="tab.analytics">통계</button>
    <button class="tab" data-tab="fleet" data-i18n="tab.fleet">장비 현황</button>
    <button class="tab" data-tab="admin" data-i18n="tab.admin">관리</button>
  </nav>
  <div class="user">
    <span id="conn" class="conn conn-off" data-i18n="conn.off">연결 끊김</span>
    <span id="clock" class="clock"></span>
    <span id="user-name" class="user-name"></span><span id="user-role" class="role-chip"></span>
    <button id="lang-toggle" class="btn btn-ghost" type="button">English</button>
    <button id="logout" class="btn btn-ghost" type="button" data-i18n="logout">로그아웃</button>
  </div>
</header>
<div id="toast" class="toast" role="status" hidden></div>
<div class="layout">
  <aside class="sidebar" id="sidebar">
    <h2 data-i18n="rooms.title">진료실 선택</h2>
    <div id="room-list" class="room-list"></div>
  </aside>
  <main class="content">
    <section id="tab-queues" class="tab-panel">
      <div id="boards" class="boards"></div>
      <p id="boards-empty" class="empty" data-i18n="rooms.pick">왼쪽에서 진료실을 선택하세요.</p>
    </section>
    <section id="tab-search" class="tab-panel" hidden>
      <form id="search-form" class="search-bar">
        <input id="search-q" type="search" maxlength="64"
               data-i18n-placeholder="search.placeholder"
               placeholder="번호표, 이름 또는 등록번호">
        <button class="btn btn-primary" type="submit" data-i18n="search.go">검색</button>
      </form>
      <table class="grid" id="search-results"><thead><tr>
        <th data-i18n="col.ticket">번호</th><th data-i18n="col.name">이름</th>
        <th data-i18n="col.reg">등록번호</th><th data-i18n="col.room">진료실</th>
        <th data-i18n="col.state">상태</th></tr></thead><tbody></tbody></table>
    </section>
    <section id="tab-fleet" class="tab-panel" hidden>
      <table class="grid" id="fleet"><thead><tr>
        <th data-i18n="fleet.station">스테이션</th><th data-i18n="fleet.status">상태</th>
        <th data-i18n="fleet.seen">마지막 수신</th><th data-i18n="fleet.version">버전</th>
        <th data-i18n="fleet.outbox">미전송</th><th data-i18n="fleet.oldest">가장 오래된 미전송</th>
        <th data-i18n="fleet.readers">리더기</th><th data-i18n="fleet.clock">시계 오차</th>
        <th data-i18n="fleet.acked">확인된 순번</th><th></th></tr></thead><tbody></tbody></table>
    </section>
    <section id="tab-analytics" class="tab-panel" hidden>
      <form id="an-range" class="an-range">
        <button type="button" class="btn btn-sm" data-range="today"
                data-i18n="an.today">오늘</button>
        <button type="button" class="btn btn-sm" data-range="yesterday"
                data-i18n="an.yesterday">어제</button>
        <button type="button" class="btn btn-sm" data-range="7"
                data-i18n="an.last7">최근 7일</button>
        <button type="button" class="btn btn-sm" data-range="30"
                data-i18n="an.last30">최근 30일</button>
        <label><span data-i18n="an.from">시작일</span> <input id="an-from" type="date"></label>
        <label><span data-i18n="an.to">종료일</span> <input id="an-to" type="date"></label>
        <button type="submit" class="btn btn-primary btn-sm" data-i18n="an.show">보기</button>
        <span id="an-label" class="an-label"></span>
      </form>
      <div class="an-head">
        <div id="an-cards" class="an-cards"></div>
        <a id="an-csv" class="btn" href="/staff/api/analytics.csv" download
           data-i18n="an.csv">CSV 내려받기</a>
      </div>
      <div id="an-bottleneck" class="an-bottleneck"></div>
      <div class="an-charts">
        <figure class="an-chart">
          <figcaption data-i18n="an.throughput">시간대별 진료 완료</figcaption>
          <div id="an-hours"></div></figure>
        <figure class="an-chart">
          <figcaption data-i18n="an.waitByHour">시간대별 대기 시간 (중앙값, 분)</figcaption>
          <div id="an-waits"></div></figure>
        <figure class="an-chart an-wide" id="an-days-fig" hidden>
          <figcaption data-i18n="an.byDay">날짜별 진료 완료와 대기 시간 중앙값</figcaption>
          <div id="an-days"></div></figure>
      </div>
      <table class="grid" id="an-rooms"><thead><tr>
        <th data-i18n="col.room">진료실</th><th data-i18n="an.completed">완료</th>
        <th data-i18n="an.noShow">노쇼율</th><th data-i18n="an.waitMed">대기 중앙값</th>
        <th data-i18n="an.waitP90">대기 90%</th><th data-i18n="an.service">진료 시간</th>
        <th data-i18n="an.growth">최근 30분 증감</th></tr></thead><tbody></tbody></table>
    </section>
    <section id="tab-admin" class="tab-panel" hidden>
      <nav class="subtabs" role="tablist">
        <button type="button" class="subtab" data-sub="users"
                data-i18n="sub.users">직원 계정</button>
        <button type="button" class="subtab" data-sub="codes"
                data-i18n="sub.codes">스테이션 등록 코드</button>
        <button type="button" class="subtab" data-sub="closures"
                data-i18n="sub.closures">통제 구역</button>
        <button type="button" class="subtab" data-sub="settings"
                data-i18n="sub.settings">운영 설정</button>
      </nav>
      <div id="sub-users" class="sub-panel" hidden>
      <form id="user-form" class="user-form">
        <input id="new-username" required maxlength="64" data-i18n-placeholder="admin.username"
               placeholder="아이디" autocomplete="off">
        <input id="new-name" required maxlength="100" data-i18n-placeholder="admin.name"
               placeholder="이름">
        <select id="new-role">
          <option value="nurse" data-i18n="role_nurse">간호사</option>
          <option value="reception" data-i18n="role_reception">원무</option>
          <option value="technician" data-i18n="role_technician">기술지원</option>
          <option value="admin" data-i18n="role_admin">관리자</option>
        </select>
        <input id="new-password" type="password" required minlength="10" maxlength="256"
               data-i18n-placeholder="admin.password" placeholder="초기 비밀번호 (10자 이상)"
               autocomplete="new-password">
        <button class="btn btn-primary" type="submit" data-i18n="admin.create">직원 추가</button>
      </form>
      <table class="grid" id="users"><thead><tr>
        <th data-i18n="admin.username">아이디</th><th data-i18n="admin.name">이름</th>
        <th data-i18n="admin.role">역할</th><th data-i18n="admin.state">상태</th>
        <th></th></tr></thead><tbody></tbody></table>
      </div>
      <div id="sub-codes" class="sub-panel" hidden>
        <p class="help" data-i18n="codes.help">새 스테이션(또는 교체한 라즈베리 파이)에 입력할
          일회용 등록 코드를 만듭니다. 코드는 만들 때 한 번만 보여 주며, 서버에는 해시만
          저장됩니다.</p>
        <form id="code-form" class="user-form">
          <input id="code-name" required maxlength="100" data-i18n-placeholder="codes.name"
                 placeholder="스테이션 이름 (예: 2층 내과 접수)">
          <input id="code-name-en" maxlength="100" data-i18n-placeholder="codes.nameEn"
                 placeholder="영문 이름 (선택)">
          <select id="code-location"><option value="" data-i18n="codes.noLocation">위치 지정
            안 함</option></select>
          <select id="code-station"><option value="" data-i18n="codes.newStation">새
            스테이션</option></select>
          <button class="btn btn-primary" type="submit" data-i18n="codes.create">등록 코드
            만들기</button>
        </form>
        <div id="code-issued" class="issued" role="status" hidden></div>
        <table class="grid" id="codes"><thead><tr>
          <th data-i18n="fleet.station">스테이션</th><th data-i18n="codes.where">위치</th>
          <th data-i18n="codes.status">상태</th><th data-i18n="codes.by">만든 사람</th>
          <th data-i18n="codes.created">만든 시각</th><th data-i18n="codes.expires">만료</th>
          <th data-i18n="codes.used">사용</th><th></th></tr></thead><tbody></tbody></table>
      </div>
      <div id="sub-closures" class="sub-panel" hidden>
        <p class="help" data-i18n="closures.help">통제한 곳은 환자 휴대폰 안내, 스테이션과
          안내 화면의 길 찾기에서 바로 피해 갑니다.</p>
        <form id="closure-form" class="user-form">
          <select id="closure-target" required></select>
          <input id="closure-reason" required maxlength="200"
                 data-i18n-placeholder="closures.reason" placeholder="사유 (예: 정기 점검)">
          <input id="closure-reason-en" required maxlength="200"
                 data-i18n-placeholder="closures.reasonEn"
                 placeholder="영문 사유 (예: Maintenance)">
          <label class="inline"><span data-i18n="closures.until">다시 여는 시각 (선택)</span>
            <input id="closure-until" type="datetime-local"></label>
          <button class="btn btn-danger" type="submit" data-i18n="closures.close">통제하기</button>
        </form>
        <table class="grid" id="closures"><thead><tr>
          <th data-i18n="closures.place">장소</th><th data-i18n="closures.floor">층</th>
          <th data-i18n="closures.why">사유</th><th data-i18n="closures.untilCol">다시 열림</th>
          <th data-i18n="closures.source">설정</th><th></th></tr></thead><tbody></tbody></table>
      </div>
      <div id="sub-settings" class="sub-panel" hidden>
        <form id="settings-form" class="settings-form" novalidate>
          <div id="settings-fields" class="settings-fields"></div>
          <p id="settings-error" class="form-error" role="alert" hidden></p>
          <div class="settings-actions">
            <button class="btn btn-primary" type="submit" data-i18n="settings.save">저장</button>
            <span id="settings-day" class="meta"></span>
          </div>
        </form>
        <h3 class="sub-title" data-i18n="settings.history">변경 기록</h3>
        <table class="grid" id="settings-history"><thead><tr>
          <th data-i18n="settings.at">시각</th><th data-i18n="settings.who">변경한 사람</th>
          <th data-i18n="settings.key">설정</th><th data-i18n="settings.before">이전</th>
          <th data-i18n="settings.after">이후</th><th data-i18n="settings.from">적용일</th>
        </tr></thead><tbody></tbody></table>
      </div>
    </section>
  </main>
  <aside id="drawer" class="drawer" hidden aria-live="polite">
    <button id="drawer-close" class="btn btn-ghost drawer-close" type="button"
            data-i18n="close">닫기</button>
    <div id="drawer-body"></div>
  </aside>
</div>
<dialog id="modal" class="modal"><form method="dialog" id="modal-form">
  <h3 id="modal-title"></h3><div id="modal-body"></div>
  <div class="modal-actions">
    <button value="cancel" class="btn btn-ghost" data-i18n="cancel">취소</button>
    <button value="ok" id="modal-ok" class="btn btn-primary" data-i18n="ok">확인</button>
  </div></form></dialog>"""
    return _page(
        lang="ko",
        title=f"{cfg.site_name_ko} · 외래 대기 관리",
        body_class="page-staff",
        body=body,
        scripts=["common.js", "staff.js"],
        data={},
    )


def phone_page(cfg: WebConfig, visit_id: str | None, *, assistant: bool = False) -> str:
    """The phone page: the login form, and (for a visit) the journey view; with `assistant`,
    the help chat box (central.assistant's script mounts itself on the marked element)."""
    chat = ""
    if assistant and visit_id:
        chat = (
            '\n    <div class="p-card" id="p-help" data-nfch-assistant data-lang="ko"'
            f' data-ask-url="/p/v/{esc(visit_id)}/api/ask"></div>'
            '\n    <script src="/assistant/static/assistant.js" defer></script>'
        )
    body = f"""
<header class="p-head">
  <div class="p-brand"><span class="brand-mark small" aria-hidden="true">+</span>
    <span>{esc(cfg.site_name_ko)}</span></div>
  <div class="p-langs" role="group" aria-label="Language">
    <button data-lang="ko">한국어</button><button data-lang="en">English</button>
    <button data-lang="zh">中文</button><button data-lang="ja">日本語</button></div>
</header>
<main class="p-main">
  <section id="p-login" class="p-card" hidden>
    <h1 data-i18n="login.title">나의 진료 안내</h1>
    <p data-i18n="login.help">휴대전화 번호 끝 4자리와 생년월일로 확인합니다.</p>
    <form id="p-login-form">
      <label><span data-i18n="login.last4">휴대전화 끝 4자리</span>
        <input id="p-last4" inputmode="numeric" pattern="[0-9]{{4}}" maxlength="4"
               autocomplete="off" required></label>
      <label><span data-i18n="login.birth">생년월일 8자리 (예: 19500301)</span>
        <input id="p-birth" inputmode="numeric" pattern="[0-9]{{8}}" maxlength="8"
               autocomplete="bday" required></label>
      <p id="p-login-error" class="form-error" role="alert" hidden></p>
      <button type="submit" class="btn btn-primary btn-block btn-xl"
              data-i18n="login.submit">확인</button>
    </form>
  </section>
  <section id="p-view" hidden>
    <div id="p-alert" class="p-alert" role="alert" hidden></div>
    <div class="p-card p-ticket">
      <div class="p-ticket-label" data-i18n="ticket">나의 번호</div>
      <div id="p-number" class="p-number">-</div>
      <div id="p-room" class="p-room"></div>
      <dl class="p-stats" id="p-stats">
        <div><dt data-i18n="ahead">앞 대기</dt><dd id="p-ahead">-</dd></div>
        <div><dt data-i18n="wait">예상 대기</dt><dd id="p-wait">-</dd></div>
      </dl>
      <p id="p-updated" class="p-updated"></p>
      <button id="p-notify" class="btn btn-ghost" type="button" hidden
              data-i18n="notify">차례가 가까우면 알림 받기</button>
    </div>
    <div class="p-card">
      <h2 id="p-progress" class="p-progress"></h2>
      <div class="p-bar"><div id="p-bar-fill" class="p-bar-fill"></div></div>
      <ol id="p-steps" class="p-steps"></ol>
    </div>
    <div class="p-card" id="p-prep-card" hidden>
      <h2 data-i18n="prep">준비 사항</h2><p id="p-prep" class="p-prep"></p></div>
    <div class="p-card" id="p-route-card" hidden>
      <h2 data-i18n="route">가는 길</h2>
      <a id="p-route-link" target="_blank" rel="noopener noreferrer">
        <img id="p-route" class="p-route" alt=""></a></div>{chat}
  </section>
</main>"""
    return _page(
        lang="ko",
        title=f"{cfg.site_name_ko} · 나의 진료 안내",
        body_class="page-phone",
        body=body,
        scripts=["common.js", "phone.js"],
        data={"visit": visit_id or ""},
    )
