"""dq_check: check DQ suites against lake tables where the data is (local Spark or EMR Serverless).

The suites come as one JSON argument (built by `deplat dq check` or the gate from dq/suites/*.yml).
For each suite: the gate's aggregates decide pass/fail and count the unexpected rows as Great
Expectations 1.x does; failed expectations are re-validated by GX for sample values; the GX
validation result JSON goes to
<lake>/_quality/<layer>.<table>/<suite>/<batch id>.json and one row per expectation is appended to
gold.quality_results. The verdict (exit 5/6) is the CLI's: this job succeeds whenever it could check.
"""

from __future__ import annotations

from datetime import datetime, timezone

from deplat_job.dq import engine
from deplat_job.dq.suite import decode_suites
from deplat_job.pipelines import common
from deplat_job.pipelines.session import get_spark

STEP = "dq_check"


def main(argv=None) -> None:
    parser = common.job_parser(__doc__.splitlines()[0])
    parser.add_argument("--suites", required=True, help="JSON list of suites (deplat_job.dq.suite.encode_suites)")
    parser.add_argument("--no-gx-report", action="store_true", help="gate only: no GX validation result")
    args = common.parse_args(parser, argv)
    suites = decode_suites(args.suites)
    spark = get_spark(STEP)
    checked = []
    for suite in suites:
        result, validation = engine.check_suite(spark, args.lake, suite, gx_report=not args.no_gx_report)
        if validation is not None:
            result.validation_uri = engine.validation_uri(args.lake, suite, args.batch_id)
            engine.write_text(spark, result.validation_uri, engine.dump_validation(validation))
        checked.append(result)
    rows = engine.quality_rows(args.batch_id, checked, datetime.now(timezone.utc).replace(tzinfo=None))
    written = engine.append_quality_results(spark, args.lake, rows)
    common.emit_metrics(STEP, read=sum(s.rows for s in checked), written=written,
                        rejected=sum(r.unexpected_count or 0 for s in checked for r in s.results if not r.success),
                        dq=[s.to_dict() for s in checked])


if __name__ == "__main__":
    main()
