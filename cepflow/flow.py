"""The cepflow dataflow — wiring only. Deploy with `python -m bytewax.run cepflow.flow:flow`.

    Kafka (events topics + chain topic), one item per poll                (dataflow/kafka_in.py)
      -> route            parse, dead-letter, watermark, rule index       (dataflow/routing.py)
      -> groups           stateful detection per (rule, version, group)   (dataflow/group_step.py)
      -> actions          run actions, write the execution log            (actions/sink.py)
    dead letters and late events -> their Kafka topics                    (dataflow/kafka_out.py)

Step ids are part of Bytewax's recovery identity (BYTEWAX.md §1.1): renaming one silently drops
its state, so they are constants here and change only with a documented recovery reset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source

from actions.pipeline import execution_lock_key
from actions.sink import ActionSink
from cepflow.resources import Resources, get_resources
from cepflow.settings import Settings, get_settings
from dataflow.group_step import GroupStep
from dataflow.kafka_in import KafkaBatchSource
from dataflow.kafka_out import OutMessage, TopicSink
from dataflow.process_tuning import tune_for_latency
from dataflow.routing import KeyedEvent, Routed, Topics, make_router
from dataflow.sealing import Sealer
from dataflow.serde import ChainCheck, Limits
from dataflow.types import Execution, InMessage, KafkaMessage

log = logging.getLogger(__name__)

FLOW_ID = "cepflow"


def _to_kafka(item: Routed) -> OutMessage | None:
    return item[1] if item[0] == "out" else None


def _to_groups(item: Routed) -> tuple[str, KeyedEvent] | None:
    return item[1] if item[0] == "key" else None


def _stateless(item: Routed) -> Execution | None:
    return item[1] if item[0] == "exec" else None


def _as_poll(msg: KafkaSourceMessage) -> list[InMessage]:
    ts = msg.timestamp[1] if msg.timestamp and msg.timestamp[0] else None
    return [InMessage(msg.topic or "", msg.partition or 0, msg.offset or 0, msg.value, ts)]


def build_flow(
    settings: Settings,
    resources: Callable[[], Resources] = get_resources,
    source: Source[KafkaSourceMessage] | None = None,
) -> Dataflow:
    """The whole engine for these settings; resources are only touched once workers run.

    `source` replaces the Kafka input (tests drive the real flow with a `TestingSource`).
    """
    topics = Topics(settings.chain_topic, settings.dead_letter_topic, settings.late_topic)
    limits = Limits(settings.max_message_bytes, settings.max_json_depth, settings.event_type_field,
                    settings.max_event_future)
    sealer = Sealer(settings.internal_key_bytes(), settings.previous_internal_keys())  # no key: no start
    chain = ChainCheck(sealer, settings.max_chain_depth)

    def rules():  # noqa: ANN202 - closures keep the flow picklable-free of live resources
        return resources().rules.current()

    def clock():  # noqa: ANN202
        return resources().clock

    flow = Dataflow(FLOW_ID)
    polls: Stream[list[KafkaMessage]]
    if source is None:
        kafka = KafkaBatchSource(settings.brokers, settings.input_topics, settings.consumer_batch_size,
                                 {"fetch.wait.max.ms": "10"}, clock)
        polls = cast(Stream[list[KafkaMessage]], op.input("kafka_in", flow, kafka))  # a Message is a KafkaMessage
    else:  # one message per item, as tests write them
        polls = cast(Stream[list[KafkaMessage]], op.map("as_poll", op.input("kafka_in", flow, source), _as_poll))
    routed = op.flat_map("route", polls, make_router(rules, clock, limits, topics, chain))

    to_kafka = op.filter_map("to_kafka", routed, _to_kafka)
    op.output("kafka_out", to_kafka, TopicSink(settings.brokers))

    keyed = op.filter_map("to_groups", routed, _to_groups)
    detected = op.stateful_batch("groups", keyed, lambda resume: GroupStep(resume, rules, clock))
    direct = op.filter_map("stateless", routed, _stateless)
    executions = op.merge("executions", direct, op.key_rm("unkey", detected))
    by_group = op.key_on("by_rule_group", executions, execution_lock_key)  # one (rule, group): one partition
    op.output("actions", by_group, ActionSink(resources))
    return flow


def _configure_logging(settings: Settings) -> None:
    """Readable engine logs on stderr; a no-op when the host (pytest, an app) configured logging."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


_configure_logging(get_settings())
flow = build_flow(get_settings())
tune_for_latency()
