# A build that fails at its last step, after printing a line the test looks
# for in the error.
FROM cleanroom-fixtures/busybox:1
COPY index.html /www/index.html
RUN echo "about to fail on purpose" && false
