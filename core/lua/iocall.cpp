#include "iocall.h"

#include "httpclient.h"

#include "../deadline.h"

#include <QNetworkReply>
#include <QNetworkRequest>
#include <QUrl>

#include <csignal>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

constexpr qsizetype MaxCaptured = 16 * 1024 * 1024; // per stream of an exec()
enum Tag { StdoutTag, StderrTag, PidTag };

QString seconds(qint64 ms)
{
    return QString::number(double(ms) / 1000.0, 'g', 6) + u's';
}

} // namespace

IoCall::IoCall(std::shared_ptr<IoRequest> request, TimerHeap &timers, Done done)
    : m_request(std::move(request))
    , m_timers(timers)
    , m_done(std::move(done))
{
}

IoCall::~IoCall()
{
    m_timers.cancel(m_timeout);
}

std::unique_ptr<IoCall> IoCall::start(std::shared_ptr<IoRequest> request, TimerHeap &timers,
                                      Done done)
{
    if (request->kind == IoRequest::Exec) {
        auto call = std::make_unique<ExecCall>(std::move(request), timers, std::move(done));
        call->begin();
        return call;
    }
    auto call = std::make_unique<HttpCall>(std::move(request), timers, std::move(done));
    call->begin();
    return call;
}

void IoCall::armTimeout()
{
    if (m_request->timeoutMs > 0)
        m_timeout = m_timers.add(deadlineAfterMs(m_request->timeoutMs), [this] {
            m_timeout = 0;
            timedOut();
        });
}

void IoCall::complete()
{
    if (std::exchange(m_completed, true))
        return;
    m_timers.cancel(std::exchange(m_timeout, 0));
    m_done(); // may destroy this object later, never now
}

// ---- exec ----

ExecCall::ExecCall(std::shared_ptr<IoRequest> request, TimerHeap &timers, Done done)
    : IoCall(std::move(request), timers, std::move(done))
{
}

ExecCall::~ExecCall()
{
    if (m_reactor) {
        for (int fd : {m_child.stdoutFd(), m_child.stderrFd(), m_child.pidFd()})
            if (fd >= 0)
                m_reactor->unwatch(fd);
        m_reactor->removeClient(m_client);
    }
    if (m_stdinFd >= 0)
        ::close(m_stdinFd);
    // ~ChildProcess kills the group and reaps the leader if it still runs.
}

void ExecCall::begin()
{
    m_reactor = ProcessReactor::forThisThread();
    if (!m_reactor) {
        m_request->error = QStringLiteral("%1: cannot watch processes").arg(m_request->what);
        complete();
        return;
    }
    ChildProcess::Options options;
    options.command = m_request->argv;
    options.workingDirectory = m_request->workingDirectory;
    options.environment = m_request->environment;
    options.stdinFd = m_reactor->devNull();
    if (m_request->hasStdin) {
        // The input, whole, in an anonymous file: no pipe to keep fed.
        m_stdinFd = ::memfd_create("taskdeck-exec-stdin", MFD_CLOEXEC);
        if (m_stdinFd >= 0) {
            const QByteArray &data = m_request->stdinData;
            qsizetype written = 0;
            while (written < data.size()) {
                const ssize_t n =
                    ::write(m_stdinFd, data.constData() + written, size_t(data.size() - written));
                if (n <= 0)
                    break;
                written += n;
            }
            ::lseek(m_stdinFd, 0, SEEK_SET);
            options.stdinFd = m_stdinFd;
        }
    }
    const QString failure = m_child.start(options);
    if (!failure.isEmpty()) {
        m_request->error = QStringLiteral("exec: %1").arg(failure);
        complete();
        return;
    }
    m_client = m_reactor->addClient(this);
    m_reactor->watch(m_client, m_child.stdoutFd(), StdoutTag);
    m_reactor->watch(m_client, m_child.stderrFd(), StderrTag);
    m_reactor->watch(m_client, m_child.pidFd(), PidTag);
    armTimeout();
}

void ExecCall::drain(int fd, QByteArray &into)
{
    char buffer[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
            const qsizetype room = MaxCaptured - into.size();
            if (room > 0)
                into.append(buffer, qMin<qsizetype>(room, n));
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            m_reactor->unwatch(fd);
            fd == m_child.stdoutFd() ? m_child.closeStdout() : m_child.closeStderr();
        }
        return;
    }
}

void ExecCall::fdReady(int tag, quint32)
{
    if (m_completed)
        return;
    if (tag == StdoutTag)
        drain(m_child.stdoutFd(), m_request->stdoutData);
    else if (tag == StderrTag)
        drain(m_child.stderrFd(), m_request->stderrData);
    finishIfExited();
}

// Done once the leader has exited and both pipes are at their end (or, if a leftover
// grandchild holds them open, once the leader has exited: the group is killed).
void ExecCall::finishIfExited()
{
    const auto exit = m_child.peekExit();
    if (!exit)
        return;
    if (m_child.stdoutFd() >= 0)
        drain(m_child.stdoutFd(), m_request->stdoutData);
    if (m_child.stderrFd() >= 0)
        drain(m_child.stderrFd(), m_request->stderrData);
    m_child.signalGroup(SIGKILL); // no grandchild outlives the call
    m_child.killEscaped();        // nor one that left the group
    m_reactor->unwatch(m_child.pidFd());
    m_child.reap();
    m_request->code = exit->exited ? exit->code : 128 + exit->signal;
    m_request->signal = exit->exited ? 0 : exit->signal;
    complete();
}

void ExecCall::timedOut()
{
    m_child.signalGroup(SIGKILL);
    m_child.killEscaped();
    m_request->error =
        QStringLiteral("%1 timed out after %2").arg(m_request->what, seconds(m_request->timeoutMs));
    complete();
}

// ---- http ----

HttpCall::HttpCall(std::shared_ptr<IoRequest> request, TimerHeap &timers, Done done)
    : IoCall(std::move(request), timers, std::move(done))
{
}

HttpCall::~HttpCall()
{
    stop(true);
}

// Lets go of the reply without hearing from it again; `abort` ends an unfinished transfer
// (closing its connection, so that an endless response stops arriving).
void HttpCall::stop(bool abort)
{
    for (const QMetaObject::Connection &connection : std::as_const(m_connections))
        QObject::disconnect(connection);
    m_connections.clear();
    if (m_reply) {
        if (abort)
            m_reply->abort();
        m_reply->deleteLater();
        m_reply = nullptr;
    }
}

// Moves what has arrived of the body into the request, as it arrives, so that the reply
// buffers nothing; false (the call failed and is complete) once it exceeds maxBody, as
// announced by Content-Length or as received.
bool HttpCall::takeBody()
{
    QNetworkReply *reply = m_reply;
    const QVariant length = reply->header(QNetworkRequest::ContentLengthHeader);
    const qint64 announced = length.isValid() ? length.toLongLong() : -1;
    if (announced <= m_request->maxBody &&
        m_request->replyBody.size() + reply->bytesAvailable() <= m_request->maxBody) {
        m_request->replyBody += reply->readAll();
        return true;
    }
    stop(true);
    m_request->replyBody.clear();
    m_request->replyHeaders.clear();
    m_request->status = 0;
    m_request->error = QStringLiteral("%1: the response body is larger than %2 bytes (raise "
                                      "max_body, within @memory)")
                           .arg(m_request->what)
                           .arg(m_request->maxBody);
    complete();
    return false;
}

void HttpCall::begin()
{
    const QUrl url(m_request->url);
    if (!url.isValid() || (url.scheme() != u"http" && url.scheme() != u"https")) {
        m_request->error = QStringLiteral("%1: not an http(s) URL").arg(m_request->what);
        complete();
        return;
    }
    m_client = HttpClient::forThisThread();
    QNetworkRequest request(url);
    for (const auto &[name, value] : m_request->headers)
        request.setRawHeader(name, value);
    m_reply = m_client->send(m_request->method, request, m_request->body);
    m_connections.append(
        QObject::connect(m_reply, &QNetworkReply::finished, m_reply, [this] { finished(); }));
    m_connections.append(QObject::connect(m_reply, &QNetworkReply::metaDataChanged, m_reply,
                                          [this] { takeBody(); }));
    m_connections.append(
        QObject::connect(m_reply, &QNetworkReply::readyRead, m_reply, [this] { takeBody(); }));
    armTimeout();
}

void HttpCall::finished()
{
    QNetworkReply *reply = m_reply;
    const QVariant status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (!status.isValid()) {
        m_request->error = QStringLiteral("%1: %2").arg(m_request->what, reply->errorString());
        m_request->replyBody.clear();
    } else {
        if (!takeBody())
            return;
        m_request->status = status.toInt();
        for (const auto &pair : reply->rawHeaderPairs())
            m_request->replyHeaders.append(pair);
    }
    stop(false);
    complete();
}

void HttpCall::timedOut()
{
    stop(true);
    m_request->error =
        QStringLiteral("%1 timed out after %2").arg(m_request->what, seconds(m_request->timeoutMs));
    complete();
}
