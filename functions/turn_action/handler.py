"""HTTPS action links of the escalation e-mails: GET shows a confirmation form, POST snoozes the
turn or marks it handled; every answer is a plain HTML page, a 4xx one for a bad link."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from reply_sla.domain.action_pages import http_response, message_page, read_request
from reply_sla.services.actions import LinkAnswer, answer_link
from reply_sla.wiring import container

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = read_request(event)
    try:
        app = container()
        answer = answer_link(
            request.method,
            request.token,
            request.form,
            keys=app.action_keys(),
            store=app.store,
            book=app.policy,
            brand_of=app.brand_view,
            now=app.clock(),
        )
    except Exception:  # the page never shows a trace; the log keeps it (never the token)
        logger.exception("action link failed", extra={"method": request.method})
        answer = LinkAnswer(
            500,
            message_page(
                "Something went wrong",
                [
                    "The action may not have been done. Try again in a minute, or use "
                    "`replysla threads` instead."
                ],
            ),
        )
    logger.info("action link answered", extra={"method": request.method, "status": answer.status})
    return http_response(answer.status, answer.page, head=request.method == "HEAD")
