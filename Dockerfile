# The cepflow image: the `cepflow` command and the Bytewax dataflow (docker-compose.yml runs it
# as the one-shot `migrate` service and as the `engine` service).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (no .venv, .stack or tests in the build).
COPY pyproject.toml README.md ./
COPY cepflow ./cepflow
COPY dataflow ./dataflow
COPY actions ./actions
COPY storage ./storage
RUN pip install .

COPY stack/docker/engine-entrypoint.sh /usr/local/bin/cepflow-engine
RUN chmod 0755 /usr/local/bin/cepflow-engine \
    && useradd --create-home --uid 10001 cepflow \
    && mkdir -p /state \
    && chown cepflow:cepflow /state

USER cepflow
VOLUME ["/state"]
CMD ["cepflow-engine"]
