#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QString>

#include <functional>
#include <memory>
#include <optional>

// Where a cluster's Redis is (SPEC section 8):
// redis://[user:password@]host[:port][/db], rediss://... (TLS, caFile from --redis-ca),
// unix://[user:password@]/path/to/redis.sock[?db=N].
struct RedisUrl
{
    enum class Scheme { Tcp, Tls, Unix };
    Scheme scheme = Scheme::Tcp;
    QString host = QStringLiteral("127.0.0.1");
    quint16 port = 6379;
    QString socketPath; // Scheme::Unix
    QString user;       // empty: AUTH with the password alone (the default user)
    QString password;   // empty: no AUTH
    int db = 0;
    QString caFile;     // Scheme::Tls: extra CA certificates (PEM)

    // nullopt and a one-line reason in *error for anything malformed.
    static std::optional<RedisUrl> parse(const QString &text, QString *error);
    // For messages: never shows the password.
    QString display() const;
};

// One RESP reply, owned (copied out of hiredis's reader).
struct RedisReply
{
    enum class Type { Nil, Status, Error, Integer, String, Array, Double };
    Type type = Type::Nil;
    qint64 integer = 0;
    double number = 0;          // Type::Double
    QByteArray string;          // Status, Error, String
    QList<RedisReply> elements; // Array

    bool isError() const { return type == Type::Error; }
    bool isNil() const { return type == Type::Nil; }
};

// A Lua script run with EVALSHA; its SHA1 is computed once from the source.
struct RedisScript
{
    explicit RedisScript(QByteArray source);
    QByteArray source;
    QByteArray sha1; // lower-case hex
};

// One connection to Redis on the event loop of the thread that owns it (no thread of its
// own, no blocking call): hiredis's redisReader parses replies and redisFormatCommandArgv
// writes commands onto a QTcpSocket, QSslSocket (rediss://) or QLocalSocket (unix://).
// Commands are pipelined: each is written at once and its callback runs when its reply
// arrives, in the order sent.
//
// On connect it authenticates, selects the db and checks the server is Redis >= 7.0, then
// emits ready(). A connect or command that takes longer than its timeout counts as a lost
// connection (a pipeline cannot drop one command). When the connection is lost every
// command still waiting gets an Error reply "DISCONNECTED <reason>"; with reconnect on it
// connects again with exponential backoff (min..max, jittered) and emits ready() again.
// Commands issued while not ready are queued (up to maxQueued, then refused at once with
// "DISCONNECTED queue full") and sent after the next ready().
// A wrong password, a server older than 7.0 or a malformed URL emit fatalError() and stop
// reconnecting.
// Owned by the thread that created it: every call, signal and callback happens there.
class RedisClient : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        RedisUrl url;
        int connectTimeoutMs = 5000;
        int commandTimeoutMs = 5000;
        bool reconnect = true;
        int minBackoffMs = 100;
        int maxBackoffMs = 5000;
        int maxQueued = 100000;
        QString clientName; // CLIENT SETNAME when not empty
    };
    using Callback = std::function<void(const RedisReply &)>;

    explicit RedisClient(const Options &options, QObject *parent = nullptr);
    ~RedisClient() override;

    void open();  // starts connecting; ready() or fatalError()/disconnected() follows
    void close(); // no reconnect; waiting callbacks get "DISCONNECTED closed"
    bool isReady() const;
    QString serverVersion() const; // "7.0.15" once ready

    // timeoutMs: -1 is Options::commandTimeoutMs; 0 never times out (XREAD BLOCK 0 on a
    // connection of its own). The callback may be empty.
    void command(const QList<QByteArray> &argv, Callback callback = {}, int timeoutMs = -1);
    // EVALSHA script.sha1 numkeys keys... args...; on NOSCRIPT (a restarted or flushed
    // server) loads the script and runs it again, once.
    void eval(const RedisScript &script, const QList<QByteArray> &keys,
              const QList<QByteArray> &args, Callback callback = {}, int timeoutMs = -1);

Q_SIGNALS:
    void ready();
    void disconnected(const QString &reason);
    void fatalError(const QString &message);

private:
    struct Private;
    std::unique_ptr<Private> d;
};
