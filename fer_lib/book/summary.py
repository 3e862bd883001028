"""The box every paper page opens with (ReScience style): which evidence the page shows, the
scope of the replication, the headline claims marked [Re] / [¬Re] from the verdicts, and what was
hard. One function, :func:`page_header`, used by the header cell of all five paper notebooks."""
from __future__ import annotations

import html

import pandas as pd

from fer_lib.book.display import MARKS, verdict_badge, verdict_text
from fer_lib.book.format import format_row
from fer_lib.book.tables import collapse_warning, paper_info, profile_banner
from fer_lib.claims import claims_for
from fer_lib.config import get_profile
from fer_lib.experiments import experiments_for, load_paper

#: Sections where a paper states its own headline results.
HEADLINE_SECTIONS = ("abstract", "conclusion", "introduction", "key findings")
NOT_TESTED = ("not testable", "reference")


def headline_claims(claims_df: pd.DataFrame, limit: int = 8) -> pd.DataFrame:
    """The claims a paper puts in its abstract, introduction or conclusions (else its first tested
    claims), without references and untestable ones: the rows the summary box marks."""
    tested = claims_df[~claims_df["verdict"].isin(NOT_TESTED)]
    head = tested[tested["section"].str.lower().str.contains("|".join(HEADLINE_SECTIONS))]
    return (head if len(head) else tested).head(limit)


def mark(verdict: str, indicative: str | None = None) -> str:
    """[Re] for reproduced, [¬Re] for not reproduced, the verdict itself otherwise; an indicative
    verdict keeps its direction: [¬Re, indicative]."""
    if verdict == "indicative" and indicative:
        return f"[{MARKS.get(str(indicative), f'[{indicative}]')[1:-1]}, indicative]"
    return MARKS.get(str(verdict), f"[{verdict}]")


def summary_box(profile: str, paper: str, claims_df: pd.DataFrame, results: dict) -> str:
    """The HTML of the summary box (scope, reproduced or not per headline claim, what was hard)."""
    prof = get_profile(profile)
    cfg = load_paper(paper)
    exps = experiments_for(paper)
    n_claims = len(claims_df)
    counts = claims_df["verdict"].value_counts()
    tested = int(n_claims - counts.reindex(list(NOT_TESTED), fill_value=0).sum())
    runs = sum(len(v) for v in results.values())
    if not runs:
        evidence = "no run yet, so every claim that needs one reads <em>missing</em>"
    elif prof.evidence:
        evidence = "each paper's protocol, so the verdicts are the replication's findings"
    else:
        evidence = "a shortened protocol, so every verdict is <em>indicative</em> only"
    scope = (f"{n_claims} claims extracted verbatim from the paper ({tested} testable against our runs); "
             f"{len(exps)} experiments, {runs} finished run(s) of the <code>{prof.name}</code> profile "
             f"({html.escape(prof.summary)}): {evidence}.")
    heads = headline_claims(claims_df)
    items = "".join(
        f"<li><strong>{mark(r.verdict, r.indicative)}</strong> {html.escape(str(r.what or r.id))}"
        f" — paper {html.escape(format_row(r)[0])}, ours {html.escape(format_row(r)[1] or '–')}; "
        f"{verdict_badge(verdict_text(r.verdict, r.indicative))} <code>{html.escape(r.id)}</code></li>"
        for _, r in heads.iterrows())
    tally = ", ".join(f"{int(n)} {html.escape(str(v))}" for v, n in counts.items())
    hard = [f"{len(cfg.get('assumptions', []))} details the paper leaves out, each chosen by us "
            "(see <em>Assumptions</em>)"]
    untestable = [c for c in claims_for(paper) if c.kind == "untestable"]
    if untestable:
        hard.append(f"{len(untestable)} claim(s) that no run can test (why: in the claims table)")
    collapsed = collapse_warning(results)
    if collapsed:
        hard.append("runs that collapsed to one predicted class or predict few classes (see <em>Runs</em>)")
    return ('<div class="fer-summary">'
            f"<p class=\"fer-summary-title\">Replication summary: {html.escape(str(paper_info(paper)['title']))}</p>"
            f"<p><strong>Scope.</strong> {scope}</p>"
            f"<p><strong>Headline claims</strong> ([Re] reproduced, [¬Re] not reproduced, as ReScience marks "
            f"them).</p><ul>{items or '<li>no testable headline claim</li>'}</ul>"
            f"<p><strong>All claims.</strong> {tally}.</p>"
            f"<p><strong>What was hard.</strong> {'; '.join(hard)}.</p></div>")


class Html:
    """Raw HTML for ``display`` (avoids importing IPython here)."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


def page_header(profile: str, paper: str, claims_df: pd.DataFrame, results: dict,
                book_profile: str | None = None) -> tuple[str, Html]:
    """(markdown banner, summary box): the first output of every paper page; ``book_profile``
    when the page shows another profile than the book's (a paper without paper runs yet)."""
    return profile_banner(profile, results, book_profile), Html(summary_box(profile, paper, claims_df, results))
