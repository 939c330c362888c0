#include "redisclient.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QLocalSocket>
#include <QPointer>
#include <QRandomGenerator>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslError>
#include <QSslSocket>
#include <QTcpSocket>
#include <QTimer>

#include <hiredis/hiredis.h>

#include <deque>
#include <set>
#include <utility>

RedisScript::RedisScript(QByteArray text)
    : source(std::move(text))
    , sha1(QCryptographicHash::hash(source, QCryptographicHash::Sha1).toHex())
{
}

namespace {

RedisReply errorReply(const QString &message)
{
    RedisReply reply;
    reply.type = RedisReply::Type::Error;
    reply.string = message.toUtf8();
    return reply;
}

// A copy of hiredis's reply tree (RESP2: hiredis 0.14 knows no doubles).
RedisReply fromHiredis(const redisReply *r)
{
    RedisReply reply;
    switch (r->type) {
    case REDIS_REPLY_STRING:
        reply.type = RedisReply::Type::String;
        reply.string = QByteArray(r->str, qsizetype(r->len));
        break;
    case REDIS_REPLY_STATUS:
        reply.type = RedisReply::Type::Status;
        reply.string = QByteArray(r->str, qsizetype(r->len));
        break;
    case REDIS_REPLY_ERROR:
        reply.type = RedisReply::Type::Error;
        reply.string = QByteArray(r->str, qsizetype(r->len));
        break;
    case REDIS_REPLY_INTEGER:
        reply.type = RedisReply::Type::Integer;
        reply.integer = r->integer;
        break;
    case REDIS_REPLY_ARRAY:
        reply.type = RedisReply::Type::Array;
        reply.elements.reserve(qsizetype(r->elements));
        for (size_t i = 0; i < r->elements; ++i)
            reply.elements.append(fromHiredis(r->element[i]));
        break;
    default:
        reply.type = RedisReply::Type::Nil;
        break;
    }
    return reply;
}

// The RESP text of one command (redisFormatCommandArgv); empty for an empty argv.
QByteArray formatCommand(const QList<QByteArray> &argv)
{
    if (argv.isEmpty())
        return {};
    std::vector<const char *> pointers;
    std::vector<size_t> lengths;
    pointers.reserve(size_t(argv.size()));
    lengths.reserve(size_t(argv.size()));
    for (const QByteArray &arg : argv) {
        pointers.push_back(arg.constData());
        lengths.push_back(size_t(arg.size()));
    }
    char *text = nullptr;
    const int length =
        redisFormatCommandArgv(&text, int(argv.size()), pointers.data(), lengths.data());
    if (length < 0)
        return {};
    QByteArray command(text, length);
    redisFreeCommand(text);
    return command;
}

// A server's text on one line (error replies and socket errors go into one-line messages).
QString oneLine(const QByteArray &text)
{
    return QString::fromUtf8(text).simplified();
}

} // namespace

struct RedisClient::Private
{
    enum class State {
        Idle,       // before open(): commands are queued
        Connecting, // socket connect, then AUTH/SELECT/SETNAME/INFO
        Ready,
        Waiting, // backing off before the next attempt
        Stopped, // closed, fatal, or lost with reconnect off: commands are refused
    };
    // A command written and waiting for its reply; replies come in the order sent.
    struct Pending
    {
        Callback callback;
        bool hasDeadline = false;
        std::multiset<std::pair<qint64, int>>::iterator deadline;
    };
    struct Queued
    {
        QByteArray command;
        Callback callback;
        int timeoutMs;
    };

    RedisClient *q;
    Options options;
    State state = State::Idle;
    QString stopReason;
    QLocalSocket *local = nullptr;
    QTcpSocket *tcp = nullptr; // a QSslSocket for rediss://
    QString tlsError;
    redisReader *reader = nullptr;
    std::deque<Pending> pending;
    std::multiset<std::pair<qint64, int>> deadlines; // (deadline on `clock`, its timeout)
    std::deque<Queued> queued;
    QTimer connectTimer;
    QTimer retryTimer;
    QTimer commandTimer;
    qint64 commandTimerAt = 0;
    QElapsedTimer clock;
    int failedAttempts = 0;
    quint64 generation = 0; // one more with every teardown: stale work stops
    QString version;

    explicit Private(RedisClient *client, const Options &o)
        : q(client)
        , options(o)
    {
        clock.start();
        connectTimer.setSingleShot(true);
        retryTimer.setSingleShot(true);
        commandTimer.setSingleShot(true);
        QObject::connect(&connectTimer, &QTimer::timeout, q, [this] {
            lose(QStringLiteral("no answer from %1 within %2 ms")
                     .arg(options.url.display())
                     .arg(options.connectTimeoutMs));
        });
        QObject::connect(&retryTimer, &QTimer::timeout, q, [this] { connectNow(); });
        QObject::connect(&commandTimer, &QTimer::timeout, q, [this] { checkDeadlines(); });
    }

    QIODevice *device() const
    {
        return local ? static_cast<QIODevice *>(local) : static_cast<QIODevice *>(tcp);
    }

    // Drops the socket and the parser without calling anyone; stale signals and timers
    // are cut off, and `generation` tells a loop in progress to stop.
    void teardown()
    {
        ++generation;
        connectTimer.stop();
        commandTimer.stop();
        deadlines.clear();
        if (local) {
            local->disconnect();
            local->abort();
            local->deleteLater();
            local = nullptr;
        }
        if (tcp) {
            tcp->disconnect();
            if (auto *ssl = qobject_cast<QSslSocket *>(tcp))
                ssl->abort();
            else
                tcp->abort();
            tcp->deleteLater();
            tcp = nullptr;
        }
        if (reader) {
            redisReaderFree(reader);
            reader = nullptr;
        }
    }

    // Calls each callback with `reply`; stops if one of them destroys the client.
    // Returns false then (the caller must not touch `this`).
    bool failAll(std::deque<Pending> waiting, std::deque<Queued> notSent, const QString &reason)
    {
        const RedisReply reply = errorReply(QStringLiteral("DISCONNECTED ") + reason);
        QPointer<RedisClient> guard(q);
        for (Pending &p : waiting) {
            if (p.callback)
                p.callback(reply);
            if (!guard)
                return false;
        }
        for (Queued &c : notSent) {
            if (c.callback)
                c.callback(reply);
            if (!guard)
                return false;
        }
        return true;
    }

    // The current connection or attempt failed: waiting commands fail, queued ones wait
    // for the next attempt (backoff) or fail too when reconnect is off.
    void lose(const QString &reason)
    {
        if (state == State::Stopped || state == State::Waiting || state == State::Idle)
            return;
        teardown();
        std::deque<Queued> notSent;
        if (options.reconnect) {
            state = State::Waiting;
            retryTimer.start(nextBackoffMs());
        } else {
            state = State::Stopped;
            stopReason = reason;
            notSent.swap(queued);
        }
        if (!failAll(std::exchange(pending, {}), std::move(notSent), reason))
            return;
        Q_EMIT q->disconnected(reason);
    }

    // A wrong password, an old server, an unusable URL: no reconnect, everything fails.
    void fatal(const QString &message)
    {
        teardown();
        retryTimer.stop();
        state = State::Stopped;
        stopReason = message;
        if (!failAll(std::exchange(pending, {}), std::exchange(queued, {}), message))
            return;
        Q_EMIT q->fatalError(message);
    }

    // Jittered exponential backoff: attempt n waits a random time in [b/2, b], where
    // b = min(minBackoffMs * 2^n, maxBackoffMs).
    int nextBackoffMs()
    {
        const int shift = std::min(failedAttempts, 20);
        ++failedAttempts;
        const qint64 base =
            std::min<qint64>(qint64(options.minBackoffMs) << shift, options.maxBackoffMs);
        if (base <= 1)
            return int(std::max<qint64>(base, 0));
        return int(base / 2 + QRandomGenerator::global()->bounded(base / 2 + 1));
    }

    // One connection attempt: a fresh socket and parser; ready() comes from the handshake.
    void connectNow()
    {
        const RedisUrl &url = options.url;
        state = State::Connecting;
        tlsError.clear();
        reader = redisReaderCreate();
        connectTimer.start(std::max(options.connectTimeoutMs, 1));
        if (url.scheme == RedisUrl::Scheme::Unix) {
            local = new QLocalSocket(q);
            QObject::connect(local, &QLocalSocket::connected, q, [this] { handshake(); });
            QObject::connect(local, &QLocalSocket::readyRead, q, [this] { readReplies(); });
            QObject::connect(local, &QLocalSocket::errorOccurred, q, [this] {
                // Qt says "Invalid name" for a path where no socket is.
                socketFailed(local->error() == QLocalSocket::ServerNotFoundError
                                 ? QStringLiteral("no socket at %1").arg(local->serverName())
                                 : local->errorString());
            });
            QObject::connect(local, &QLocalSocket::disconnected, q,
                             [this] { socketFailed(QStringLiteral("connection closed")); });
            // QLocalSocket reports a missing socket from inside connectToServer().
            local->connectToServer(url.socketPath);
            return;
        }
        QSslSocket *ssl = nullptr;
        if (url.scheme == RedisUrl::Scheme::Tls) {
            ssl = new QSslSocket(q);
            tcp = ssl;
            QSslConfiguration config = ssl->sslConfiguration();
            if (!options.url.caFile.isEmpty()) {
                const QList<QSslCertificate> certificates =
                    QSslCertificate::fromPath(options.url.caFile, QSsl::Pem);
                if (certificates.isEmpty()) {
                    fatal(QStringLiteral("cannot read CA certificates from %1")
                              .arg(options.url.caFile));
                    return;
                }
                config.addCaCertificates(certificates);
            }
            ssl->setSslConfiguration(config);
            QObject::connect(ssl, &QSslSocket::encrypted, q, [this] { handshake(); });
            QObject::connect(ssl, &QSslSocket::sslErrors, q,
                             [this](const QList<QSslError> &errors) {
                                 if (!errors.isEmpty())
                                     tlsError = errors.first().errorString();
                             });
        } else {
            tcp = new QTcpSocket(q);
            QObject::connect(tcp, &QTcpSocket::connected, q, [this] { handshake(); });
        }
        QObject::connect(tcp, &QTcpSocket::readyRead, q, [this] { readReplies(); });
        QObject::connect(tcp, &QTcpSocket::errorOccurred, q, [this] {
            socketFailed(tlsError.isEmpty() ? tcp->errorString()
                                            : QStringLiteral("TLS: ") + tlsError);
        });
        QObject::connect(tcp, &QTcpSocket::disconnected, q,
                         [this] { socketFailed(QStringLiteral("connection closed")); });
        if (ssl)
            ssl->connectToHostEncrypted(url.host, url.port);
        else
            tcp->connectToHost(url.host, url.port);
    }

    // The socket failed or closed: replies already received are still delivered first.
    void socketFailed(const QString &error)
    {
        QIODevice *socket = device();
        if (socket && socket->bytesAvailable() > 0) {
            const quint64 current = generation;
            QPointer<RedisClient> guard(q);
            readReplies();
            if (!guard || current != generation)
                return;
        }
        const QString where = options.url.display();
        lose(state == State::Ready
                 ? QStringLiteral("lost the connection to %1: %2").arg(where, error.simplified())
                 : QStringLiteral("cannot connect to %1: %2").arg(where, error.simplified()));
    }

    // Connected: AUTH, SELECT, CLIENT SETNAME and INFO server go out as one pipeline;
    // INFO's reply (a Redis >= 7.0) makes the connection ready.
    void handshake()
    {
        if (tcp) {
            tcp->setSocketOption(QAbstractSocket::LowDelayOption, 1);
            tcp->setSocketOption(QAbstractSocket::KeepAliveOption, 1);
        }
        const RedisUrl &url = options.url;
        const QString where = url.display();
        // A step's reply after this connection ended ("DISCONNECTED ...") is not its answer.
        const quint64 current = generation;
        if (!url.password.isEmpty()) {
            QList<QByteArray> auth{"AUTH"};
            if (!url.user.isEmpty())
                auth.append(url.user.toUtf8());
            auth.append(url.password.toUtf8());
            send(
                formatCommand(auth),
                [this, where, current](const RedisReply &reply) {
                    if (current == generation && reply.isError())
                        fatal(QStringLiteral("Redis at %1 refused the login: %2")
                                  .arg(where, oneLine(reply.string)));
                },
                0);
        }
        if (url.db != 0) {
            send(
                formatCommand({"SELECT", QByteArray::number(url.db)}),
                [this, where, current](const RedisReply &reply) {
                    if (current == generation && reply.isError())
                        fatal(QStringLiteral("Redis at %1 cannot select db %2: %3")
                                  .arg(where)
                                  .arg(options.url.db)
                                  .arg(oneLine(reply.string)));
                },
                0);
        }
        if (!options.clientName.isEmpty()) {
            send(
                formatCommand({"CLIENT", "SETNAME", options.clientName.toUtf8()}),
                [this, where, current](const RedisReply &reply) {
                    if (current == generation && reply.isError())
                        fatal(QStringLiteral("Redis at %1 refused the client name: %2")
                                  .arg(where, oneLine(reply.string)));
                },
                0);
        }
        send(
            formatCommand({"INFO", "server"}),
            [this, where, current](const RedisReply &reply) {
                if (current == generation)
                    checkVersion(reply, where);
            },
            0);
    }

    void checkVersion(const RedisReply &reply, const QString &where)
    {
        if (reply.isError()) {
            if (reply.string.startsWith("NOAUTH"))
                fatal(QStringLiteral("Redis at %1 needs a password (%2)")
                          .arg(where, oneLine(reply.string)));
            else
                fatal(QStringLiteral("Redis at %1 refused INFO: %2")
                          .arg(where, oneLine(reply.string)));
            return;
        }
        const QByteArray key = "redis_version:";
        const qsizetype start = reply.string.indexOf(key);
        if (reply.type != RedisReply::Type::String || start < 0) {
            fatal(QStringLiteral("the server at %1 does not say its Redis version").arg(where));
            return;
        }
        qsizetype end = reply.string.indexOf('\n', start);
        if (end < 0)
            end = reply.string.size();
        version = QString::fromUtf8(reply.string.mid(start + key.size(), end - start - key.size()))
                      .trimmed();
        bool ok = false;
        const int major = version.section(u'.', 0, 0).toInt(&ok);
        if (!ok || major < 7) {
            fatal(QStringLiteral("Redis %1 at %2 is older than 7.0").arg(version, where));
            return;
        }
        becomeReady();
    }

    void becomeReady()
    {
        connectTimer.stop();
        state = State::Ready;
        failedAttempts = 0;
        // Queued commands go first, before anything a ready() handler sends.
        while (!queued.empty() && state == State::Ready) {
            Queued c = std::move(queued.front());
            queued.pop_front();
            send(c.command, std::move(c.callback), c.timeoutMs);
        }
        Q_EMIT q->ready();
    }

    // Writes one formatted command and expects its reply after those already waiting.
    // timeoutMs: -1 the default, 0 none.
    void send(const QByteArray &command, Callback callback, int timeoutMs)
    {
        if (timeoutMs < 0)
            timeoutMs = options.commandTimeoutMs;
        device()->write(command);
        Pending p;
        p.callback = std::move(callback);
        if (timeoutMs > 0) {
            const qint64 at = clock.elapsed() + timeoutMs;
            p.hasDeadline = true;
            p.deadline = deadlines.emplace(at, timeoutMs);
            if (!commandTimer.isActive() || at < commandTimerAt) {
                commandTimerAt = at;
                commandTimer.start(int(std::max<qint64>(at - clock.elapsed(), 0)));
            }
        }
        pending.push_back(std::move(p));
    }

    // The earliest deadline of the waiting commands has come (or the timer was early).
    void checkDeadlines()
    {
        if (deadlines.empty())
            return;
        const auto [at, timeoutMs] = *deadlines.begin();
        const qint64 now = clock.elapsed();
        if (at > now) {
            commandTimerAt = at;
            commandTimer.start(int(at - now));
            return;
        }
        lose(QStringLiteral("a command to %1 got no reply within %2 ms")
                 .arg(options.url.display())
                 .arg(timeoutMs));
    }

    // Feeds what the socket has to the parser and answers each complete reply's command.
    void readReplies()
    {
        QIODevice *socket = device();
        if (!socket || !reader)
            return;
        const QByteArray data = socket->readAll();
        if (data.isEmpty())
            return;
        if (redisReaderFeed(reader, data.constData(), size_t(data.size())) != REDIS_OK) {
            lose(QStringLiteral("protocol error from %1: %2")
                     .arg(options.url.display(), QString::fromUtf8(reader->errstr)));
            return;
        }
        QPointer<RedisClient> guard(q);
        const quint64 current = generation;
        for (;;) {
            void *object = nullptr;
            if (redisReaderGetReply(reader, &object) != REDIS_OK) {
                lose(QStringLiteral("protocol error from %1: %2")
                         .arg(options.url.display(), QString::fromUtf8(reader->errstr)));
                return;
            }
            if (!object)
                return;
            const RedisReply reply = fromHiredis(static_cast<redisReply *>(object));
            freeReplyObject(object);
            if (pending.empty()) {
                lose(QStringLiteral("%1 sent a reply to no command").arg(options.url.display()));
                return;
            }
            Pending p = std::move(pending.front());
            pending.pop_front();
            if (p.hasDeadline)
                deadlines.erase(p.deadline);
            if (p.callback)
                p.callback(reply);
            if (!guard || current != generation)
                return;
        }
    }

    // Refuses a command without blocking the caller: its callback runs from the event loop.
    void refuseLater(Callback callback, const QString &message)
    {
        if (!callback)
            return;
        QMetaObject::invokeMethod(
            q, [callback = std::move(callback), message] { callback(errorReply(message)); },
            Qt::QueuedConnection);
    }
};

RedisClient::RedisClient(const Options &options, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(this, options))
{
}

// Waiting callbacks are dropped, not called: their owners may be going away too.
RedisClient::~RedisClient()
{
    d->teardown();
}

// Every outcome (ready, disconnected, fatalError) is reported from the event loop, never
// from inside open().
void RedisClient::open()
{
    using State = Private::State;
    if (d->state == State::Connecting || d->state == State::Ready || d->state == State::Waiting)
        return;
    const RedisUrl &url = d->options.url;
    QString problem;
    if (url.scheme == RedisUrl::Scheme::Unix && url.socketPath.isEmpty())
        problem = QStringLiteral("malformed Redis URL: no socket path");
    else if (url.scheme != RedisUrl::Scheme::Unix && url.host.isEmpty())
        problem = QStringLiteral("malformed Redis URL: no host");
    else if (url.scheme == RedisUrl::Scheme::Tls && !QSslSocket::supportsSsl())
        problem = QStringLiteral("cannot use %1: this Qt has no TLS support").arg(url.display());
    d->state = State::Waiting;
    d->failedAttempts = 0;
    if (!problem.isEmpty()) {
        QMetaObject::invokeMethod(
            this, [this, problem] { d->fatal(problem); }, Qt::QueuedConnection);
        return;
    }
    d->retryTimer.start(0);
}

void RedisClient::close()
{
    d->teardown();
    d->retryTimer.stop();
    d->state = Private::State::Stopped;
    d->stopReason = QStringLiteral("closed");
    d->failAll(std::exchange(d->pending, {}), std::exchange(d->queued, {}),
               QStringLiteral("closed"));
}

bool RedisClient::isReady() const
{
    return d->state == Private::State::Ready;
}

QString RedisClient::serverVersion() const
{
    return d->version;
}

// Ready: written now. Not ready yet (before open(), connecting, backing off): queued,
// and its timeout starts when it is sent. Stopped: refused from the event loop.
void RedisClient::command(const QList<QByteArray> &argv, Callback callback, int timeoutMs)
{
    const QByteArray formatted = formatCommand(argv);
    if (formatted.isEmpty()) {
        d->refuseLater(std::move(callback), QStringLiteral("ERR empty command"));
        return;
    }
    switch (d->state) {
    case Private::State::Ready:
        d->send(formatted, std::move(callback), timeoutMs);
        return;
    case Private::State::Stopped:
        d->refuseLater(std::move(callback), QStringLiteral("DISCONNECTED ") + d->stopReason);
        return;
    default:
        if (qsizetype(d->queued.size()) >= d->options.maxQueued) {
            d->refuseLater(std::move(callback), QStringLiteral("DISCONNECTED queue full"));
            return;
        }
        d->queued.push_back({formatted, std::move(callback), timeoutMs});
        return;
    }
}

// SCRIPT LOAD and the second EVALSHA are written back to back; a script that does not
// compile answers with SCRIPT LOAD's error.
void RedisClient::eval(const RedisScript &script, const QList<QByteArray> &keys,
                       const QList<QByteArray> &args, Callback callback, int timeoutMs)
{
    QList<QByteArray> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv << "EVALSHA" << script.sha1 << QByteArray::number(keys.size());
    argv << keys << args;
    const QByteArray source = script.source;
    command(
        argv,
        [this, argv, source, callback, timeoutMs](const RedisReply &reply) {
            if (!reply.isError() || !reply.string.startsWith("NOSCRIPT")) {
                if (callback)
                    callback(reply);
                return;
            }
            auto loadError = std::make_shared<RedisReply>();
            command(
                {"SCRIPT", "LOAD", source},
                [loadError](const RedisReply &loaded) {
                    if (loaded.isError())
                        *loadError = loaded;
                },
                timeoutMs);
            command(
                argv,
                [loadError, callback](const RedisReply &again) {
                    if (callback)
                        callback(again.isError() && loadError->isError() ? *loadError : again);
                },
                timeoutMs);
        },
        timeoutMs);
}

// Checks done() after each batch of events; a timer guarantees a wake-up at the deadline.
bool RedisClient::runUntil(const std::function<bool()> &done, int timeoutMs)
{
    const QDeadlineTimer deadline(std::max(timeoutMs, 0));
    bool failed = false;
    const QMetaObject::Connection watch =
        connect(this, &RedisClient::fatalError, this, [&failed] { failed = true; });
    QTimer wakeUp;
    wakeUp.setSingleShot(true);
    wakeUp.start(std::max(timeoutMs, 0));
    bool finished = done();
    while (!finished && !failed && !deadline.hasExpired()) {
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
        finished = done();
    }
    disconnect(watch);
    return finished;
}
