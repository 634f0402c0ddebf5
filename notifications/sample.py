"""A fixed, made-up letter for previews (`casework letters render ID`) and the golden-file tests.

It goes through the same `build_context` as a real letter, so a preview has exactly the fields a real
letter has; only the facts are invented (no database).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from casework.attendance import figures_from_codes
from casework.calendar import SchoolCalendar
from casework.config import Config
from notifications.context import Facts, build_context

DAY = dt.date(2026, 10, 5)  # a Monday in Autumn 1 of the demo school's year
PUPIL = {"upn": "A123456789012", "given_name": "Jordan", "family_name": "Example", "form": "9B",
         "year_group": 9, "date_of_birth": "2012-03-14"}
_ABSENT_SINCE_FRIDAY = {"sessions": [["2026-10-02", "AM"], ["2026-10-02", "PM"], ["2026-10-05", "AM"]]}

# Letter id -> (session codes so far this year, what the producing workflow put in Letter.context,
# the producing case's data). Figures are made to fit the letter (100% for the congratulations).
_PRESENT = ["/", "\\"] * 26
EXAMPLES: dict[str, tuple[list[str], dict[str, Any], dict[str, Any]]] = {
    "absence_enquiry_slip": (_PRESENT[:-4] + ["N"] * 4, {}, _ABSENT_SINCE_FRIDAY),
    "concern_letter_1": (_PRESENT[:-1] + ["I"], {"stage": "stage_2", "illness": True}, {}),
    "concern_letter_2": (_PRESENT[:-4] + ["I", "I", "O", "O"], {"stage": "stage_3", "illness": True}, {}),
    "risk_of_pa_letter_3": (_PRESENT[:-5] + ["I", "I", "O", "O", "O"], {"stage": "stage_4"}, {}),
    "final_warning": (_PRESENT[:-8] + ["O"] * 6 + ["I", "I"], {"stage": "stage_5"}, {}),
    "congratulations_100": (_PRESENT, {"half_term": "Autumn 1"}, {}),
    "meeting_confirmation": (_PRESENT[:-4] + ["I", "I", "O", "O"],
                             {"meeting_at": "Tuesday 13 October 2026 at 15:30",
                              "attendees": ["Pastoral manager", "Jordan's parents"]},
                             {"purpose": "attendance plan"}),
    "report_placed": (_PRESENT[:-3] + ["I", "O", "O"], {"days": 10}, {}),
    "punctuality_parentmail": (["L", "\\"] * 3 + _PRESENT[6:], {"lates": 3, "threshold": 3}, {}),
    "punctuality_letter": (["L", "\\"] * 10 + _PRESENT[20:], {"lates": 10, "days": 10}, {}),
    "punctuality_congratulations": (["L", "\\"] * 10 + _PRESENT[20:], {"lates_during_report": 0}, {}),
    "medical_evidence_request": (_PRESENT[:-10] + ["I"] * 10, {"days": 5, "from": "2026-09-29"}, {}),
    "pn_warning": (_PRESENT[:-10] + ["O"] * 10, {"window_to": "2026-11-02"}, {}),
    "penalty_notice": (_PRESENT[:-12] + ["O"] * 12, {"issued_on": "2026-10-05"}, {}),
    # NAT-PN-2 (policies/national-2024.yaml, workflows/penalty_notice_2024.py): 10 unauthorised sessions in the
    # rolling window met the threshold; the context is the workflow's (improvement period: the next school day
    # to 4 weeks on, the payment schedule of policy.penalty_notices.amounts)
    "notice_to_improve": (_PRESENT[:-10] + ["O"] * 10,
                          {"improve_from": "2026-10-06", "improve_to": "2026-11-02", "sessions": 10,
                           "counted_from": "2026-09-03",
                           "amounts": [{"amount_gbp": 80, "paid_within_days": 21},
                                       {"amount_gbp": 160, "paid_within_days": 28}]},
                          {"counter": "unauthorised", "sessions": 10, "from": "2026-09-03"}),
}
_DEFAULT: tuple[list[str], dict[str, Any], dict[str, Any]] = (_PRESENT[:-4] + ["I", "I", "O", "O"], {}, {})


def example_facts(config: Config, letter_id: str, channel: str | None = None) -> Facts:
    codes, extra, case_data = EXAMPLES.get(letter_id, _DEFAULT)
    return Facts(letter_id=letter_id, letter_ref=f"{PUPIL['upn']}/1",
                 channel=channel or config.letters[letter_id].channels[0], created=DAY, pupil=PUPIL,
                 recipient_name="Mrs Sam Example",
                 recipient_address="12 Mill Lane, Ashton-under-Lyne, OL6 9AA",
                 figures=figures_from_codes(codes, config), extra=extra, case_data=case_data)


def example_context(config: Config, calendar: SchoolCalendar, letter_id: str) -> dict[str, Any]:
    return build_context(example_facts(config, letter_id), config, calendar)
