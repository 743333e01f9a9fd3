# kura: a pull-through registry cache for Docker Hub.
#   buildah bud -t kura:0.1.0 .     (or: docker build -t kura:0.1.0 .)
# Two stages: wheels are built with pip in the first, the runtime stage only installs them.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KURA_CONFIG=/etc/kura/kura.toml \
    KURA_CACHE_DIR=/data \
    KURA_SERVER_LISTEN=0.0.0.0:5000 \
    KURA_SERVER_LOG_FORMAT=json
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && groupadd --system --gid 10001 kura \
    && useradd --system --uid 10001 --gid kura --home-dir /data --shell /usr/sbin/nologin kura \
    && mkdir -p /data /etc/kura && chown kura:kura /data
COPY config/kura.toml /etc/kura/kura.toml
USER 10001:10001
VOLUME ["/data"]
EXPOSE 5000
# Only the standard library: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:5000/healthz', timeout=4).status == 200 else 1)"]
# kura stops accepting on SIGTERM and lets in-flight responses and fills finish for
# up to server.shutdown_grace_s; give the runtime a longer stop timeout than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kura"]
CMD ["serve"]
