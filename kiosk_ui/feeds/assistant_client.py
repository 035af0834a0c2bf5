"""HTTP client for central's help assistant, on the Qt loop (QNetworkAccessManager is async:
nothing here blocks the GUI thread)."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

from PyQt6.QtCore import QObject, QUrl
from PyQt6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest

from kiosk_ui.models.help import HelpModel

log = logging.getLogger("nfch.kiosk.assistant")

TIMEOUT_MS = 8000
MAX_BODY = 256 * 1024


class AssistantClient(QObject):
    """Serves a HelpModel's requests from `base_url` (central, e.g. http://central:8080)."""

    def __init__(
        self,
        base_url: str,
        model: HelpModel,
        *,
        station_id: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.base = base_url.rstrip("/") + "/api/v1/assistant"
        self.model = model
        self.station_id = station_id
        self.net = QNetworkAccessManager(self)
        model.fetchQuestions.connect(self._fetch_questions)
        model.ask.connect(self._ask)

    def _request(self, path: str) -> QNetworkRequest:
        req = QNetworkRequest(QUrl(self.base + path))
        req.setTransferTimeout(TIMEOUT_MS)
        req.setHeader(QNetworkRequest.KnownHeaders.ContentTypeHeader, "application/json")
        return req

    def _fetch_questions(self, lang: str) -> None:
        ticket = self.model.ticket
        reply = self.net.get(self._request("/top-questions?lang=" + quote(lang)))
        if reply is not None:
            reply.finished.connect(lambda: self._done(reply, ticket, "top_questions"))

    def _ask(self, question: str, lang: str) -> None:
        ticket = self.model.ticket
        body: dict[str, str] = {"question": question, "lang": lang}
        if self.station_id is not None:
            body["station_id"] = self.station_id
        reply = self.net.post(self._request("/ask"), json.dumps(body).encode())
        if reply is not None:
            reply.finished.connect(lambda: self._done(reply, ticket, "ask"))

    def _done(self, reply: QNetworkReply, ticket: int, what: str) -> None:
        reply.deleteLater()
        status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
        if reply.error() != QNetworkReply.NetworkError.NoError or status != 200:
            reason = f"{reply.errorString()} (HTTP {status})"
            log.warning("assistant.request_failed what=%s reason=%s", what, reason)
            self.model.failed(ticket, reason)
            return
        payload = bytes(reply.read(MAX_BODY))
        if what == "ask":
            self.model.answer_arrived(ticket, payload)
        else:
            self.model.questions_arrived(ticket, payload)
