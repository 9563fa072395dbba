"""Write the small sample in sample_data/pump_inspection/ (seeded; run: python sample_data/make_small_sample.py).

A stand-in until the full sample generator exists: 4 sites, 20 weeks, 5 pumps a site a week.
The model scores each pump-week, an engineer decides, and the inspection finding arrives later
(the last weeks are still pending). The exports are messy the way real ones are: the maintenance
system renames columns, spells labels its own way and writes naive local times; a handful of rows
are bad on purpose, and the counts below are what the quarantine must catch.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent / "pump_inspection"
SITES = {"hamburg": "north", "bremen": "north", "munich": "south", "stuttgart": "south"}
ENGINEERS = {
    "hamburg": ["ana", "ben"],
    "bremen": ["cem"],
    "munich": ["dora", "eli"],
    "stuttgart": ["finn"],
}
START = datetime(2026, 3, 2, 7, 0)  # a Monday, local time (Europe/Berlin)
# Rows made bad on purpose, by the reason the quarantine must give.
BAD = {
    "decisions": {"unknown_label": 2, "unparseable_timestamp": 1, "blank_row": 1},
    "predictions": {"score_out_of_range": 1},
    "outcomes": {"missing_case_id": 1},
}


def main() -> None:
    rng = random.Random(7)
    preds, decs, outs = [], [], []
    for week in range(20):
        for site, region in SITES.items():
            for pump in range(5):
                case = f"{site[:3].upper()}-P{pump:02d}-W{week:02d}"
                t = START + timedelta(weeks=week, days=rng.randint(0, 3), hours=rng.randint(0, 6))
                vibration = rng.random()
                fails = rng.random() < 0.15 + 0.5 * vibration**3
                score = min(max(0.1 + 0.7 * vibration**2 + rng.gauss(0, 0.08), 0.01), 0.99)
                preds.append(
                    {
                        "case_id": case,
                        "predicted_at": (t - timedelta(hours=2)).isoformat() + "+01:00",
                        "model": "pump-risk",
                        "model_version": "v1" if week < 12 else "v2",
                        "predicted_label": "inspect" if score >= 0.4 else "no_inspect",
                        "score": f"{score:.3f}",
                        "site": site,
                        "region": region,
                        "explanation": json.dumps(
                            {"vibration": round(score - 0.3, 3), "age": 0.02}
                        ),
                    }
                )
                skill = 0.75 if site != "munich" else 0.9
                inspect = fails if rng.random() < skill else not fails
                decs.append(
                    {
                        "AssetWeek": case,
                        "DecisionTime": t.strftime("%d/%m/%Y %H:%M"),
                        "Inspect?": rng.choice(["Y", "yes", "Inspect"])
                        if inspect
                        else rng.choice(["N", "no"]),
                        "Engineer": rng.choice(ENGINEERS[site]),
                        "Site": site,
                        "Region": region,
                    }
                )
                if week < 17:
                    seen = t + timedelta(days=rng.randint(3, 20))
                    outs.append(
                        {
                            "case_id": case,
                            "observed_at": seen.strftime("%Y-%m-%d %H:%M:%S"),
                            "actual_label": "inspect" if fails else "no_inspect",
                        }
                    )
    decs[5]["Inspect?"] = "maybe"
    decs[40]["Inspect?"] = "later"
    decs[77]["DecisionTime"] = "31/02/2026 09:00"
    decs.insert(100, dict.fromkeys(decs[0], ""))
    decs.append(dict(decs[3]))  # an exact duplicate row: skipped, not quarantined
    preds[12]["score"] = "1.7"
    outs[30]["case_id"] = ""
    OUT.mkdir(exist_ok=True)
    for name, rows in (("predictions", preds), ("decisions", decs), ("outcomes", outs)):
        with (OUT / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (OUT / "expected_quarantine.json").write_text(json.dumps(BAD, indent=2) + "\n")


if __name__ == "__main__":
    main()
