"""The patients' help assistant: questions answered from the FAQ, the room directory, the map
and (with the patient's own phone-page session) the patient's visit, offline.

Facade: `Assistant` (sync `answer`), `AskService` (async, rate limits and the optional
language-model rephrasing), `load_faq`, the HTTP routes in `central.assistant.http`.
"""

from central.assistant.core import Assistant
from central.assistant.faq import FaqFile, load_faq
from central.assistant.models import Answer, TopQuestions

__all__ = ["Answer", "Assistant", "FaqFile", "TopQuestions", "load_faq"]
