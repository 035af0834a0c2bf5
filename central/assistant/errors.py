"""The assistant's errors. Each is an `ApiError`, so central's one error middleware maps them
to the one error format and status (no mapping of our own)."""

from __future__ import annotations

from central.api.errors import ApiError


class AssistantError(ApiError):
    """Base of the assistant's errors."""

    status = 400
    reason = "assistant_error"
    message_ko = "질문을 처리할 수 없습니다."
    message_en = "The question could not be answered."


class QuestionTooLong(AssistantError):
    """The question is longer than the configured limit."""

    status = 422
    reason = "question_too_long"
    message_ko = "질문이 너무 깁니다. 짧게 나누어 물어봐 주세요."
    message_en = "The question is too long; please ask it in fewer words."


class EmptyQuestion(AssistantError):
    """The question has no words in it."""

    status = 422
    reason = "question_empty"
    message_ko = "질문을 입력해 주세요."
    message_en = "Please type a question."


class RateLimited(AssistantError):
    """Too many questions from one session or address in a short time."""

    status = 429
    reason = "rate_limited"
    message_ko = "질문이 너무 많습니다. 잠시 후 다시 물어봐 주세요."
    message_en = "Too many questions; please wait a moment and ask again."


class FaqFileError(Exception):
    """The FAQ file is missing, not JSON, or fails validation (message names file and key)."""
