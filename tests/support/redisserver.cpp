#include "redisserver.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QLocalSocket>
#include <QStandardPaths>
#include <QTcpServer>
#include <QThread>

#include <csignal>

RedisServer::RedisServer()
{
    m_process.setStandardOutputFile(QProcess::nullDevice());
    m_process.setStandardErrorFile(QProcess::nullDevice());
}

RedisServer::~RedisServer()
{
    kill();
}

bool RedisServer::isAvailable(QString *why, bool tls)
{
    if (QStandardPaths::findExecutable(QStringLiteral("redis-server")).isEmpty()) {
        *why = QStringLiteral("redis-server is not installed (tests/install-deps.sh)");
        return false;
    }
    if (tls && QStandardPaths::findExecutable(QStringLiteral("openssl")).isEmpty()) {
        *why = QStringLiteral("openssl is not installed (tests/install-deps.sh)");
        return false;
    }
    return true;
}

QString RedisServer::socketPath() const
{
    return m_dir.filePath(QStringLiteral("redis.sock"));
}

QString RedisServer::caFile() const
{
    return m_dir.filePath(QStringLiteral("ca.crt"));
}

QByteArray RedisServer::log() const
{
    QFile file(m_dir.filePath(QStringLiteral("redis.log")));
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

RedisUrl RedisServer::url(const QString &user, const QString &password) const
{
    RedisUrl url;
    url.scheme = RedisUrl::Scheme::Unix;
    url.socketPath = socketPath();
    url.user = user;
    url.password = password;
    return url;
}

RedisUrl RedisServer::tlsUrl(const QString &user, const QString &password) const
{
    RedisUrl url;
    url.scheme = RedisUrl::Scheme::Tls;
    url.host = QStringLiteral("localhost");
    url.port = m_tlsPort;
    url.user = user;
    url.password = password;
    url.caFile = caFile();
    return url;
}

// A CA, and a server certificate it signs for localhost and 127.0.0.1 (EC keys: fast).
bool RedisServer::makeCertificates()
{
    const QString ec = QStringLiteral("ec_paramgen_curve:prime256v1");
    const QList<QStringList> steps = {
        {"req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", "ca.key",
         "-out", "ca.crt", "-days", "2", "-subj", "/CN=Taskdeck test CA"},
        {"req", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", "redis.key", "-out",
         "redis.csr", "-subj", "/CN=localhost"},
        {"x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "redis.crt", "-days", "2", "-extfile", "san.ext"},
    };
    QFile ext(m_dir.filePath(QStringLiteral("san.ext")));
    if (!ext.open(QIODevice::WriteOnly)
        || ext.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n") < 0) {
        m_error = QStringLiteral("cannot write %1").arg(ext.fileName());
        return false;
    }
    ext.close();
    for (const QStringList &args : steps) {
        QProcess openssl;
        openssl.setWorkingDirectory(m_dir.path());
        openssl.start(QStringLiteral("openssl"), args);
        if (!openssl.waitForFinished(30000) || openssl.exitCode() != 0) {
            m_error = QStringLiteral("openssl %1 failed: %2")
                          .arg(args.join(u' '), QString::fromUtf8(openssl.readAllStandardError()));
            return false;
        }
    }
    return true;
}

bool RedisServer::writeConfig()
{
    QByteArray config;
    auto line = [&config](const QString &text) { config += text.toUtf8() + '\n'; };
    line(QStringLiteral("port 0"));
    line(QStringLiteral("unixsocket \"%1\"").arg(socketPath()));
    line(QStringLiteral("unixsocketperm 700"));
    line(QStringLiteral("dir \"%1\"").arg(m_dir.path()));
    line(QStringLiteral("logfile \"%1\"").arg(m_dir.filePath(QStringLiteral("redis.log"))));
    line(QStringLiteral("daemonize no"));
    line(QStringLiteral("save \"\""));
    line(QStringLiteral("appendonly %1").arg(m_options.appendOnly ? "yes" : "no"));
    line(QStringLiteral("appendfsync everysec"));
    if (!m_options.password.isEmpty())
        line(QStringLiteral("requirepass \"%1\"").arg(m_options.password));
    for (const QString &user : m_options.users) {
        const QString name = user.section(u' ', 0, 0);
        const QString password = user.section(u' ', 1);
        line(QStringLiteral("user %1 on >%2 ~* &* +@all").arg(name, password));
    }
    if (m_options.tls) {
        line(QStringLiteral("tls-port %1").arg(m_tlsPort));
        line(QStringLiteral("bind 127.0.0.1"));
        line(QStringLiteral("tls-cert-file \"%1\"").arg(m_dir.filePath("redis.crt")));
        line(QStringLiteral("tls-key-file \"%1\"").arg(m_dir.filePath("redis.key")));
        line(QStringLiteral("tls-ca-cert-file \"%1\"").arg(caFile()));
        line(QStringLiteral("tls-auth-clients no"));
    }
    QFile file(m_dir.filePath(QStringLiteral("redis.conf")));
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(config) < 0) {
        m_error = QStringLiteral("cannot write %1").arg(file.fileName());
        return false;
    }
    return true;
}

bool RedisServer::start(const Options &options)
{
    kill();
    m_options = options;
    if (!m_dir.isValid()) {
        m_error = QStringLiteral("no temporary directory: %1").arg(m_dir.errorString());
        return false;
    }
    if (options.tls) {
        if (!makeCertificates())
            return false;
        QTcpServer probe; // a free port for the TLS listener (the server binds it next)
        if (!probe.listen(QHostAddress::LocalHost, 0)) {
            m_error = QStringLiteral("no free TCP port: %1").arg(probe.errorString());
            return false;
        }
        m_tlsPort = probe.serverPort();
    }
    if (!writeConfig())
        return false;
    return restart();
}

bool RedisServer::restart()
{
    kill();
    m_process.start(QStandardPaths::findExecutable(QStringLiteral("redis-server")),
                    {m_dir.filePath(QStringLiteral("redis.conf"))});
    if (!m_process.waitForStarted(10000)) {
        m_error = QStringLiteral("cannot start redis-server: %1").arg(m_process.errorString());
        return false;
    }
    return waitUntilAnswering(10000);
}

// PING on the socket until the server answers (PONG, or NOAUTH with a password).
bool RedisServer::waitUntilAnswering(int timeoutMs)
{
    const QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        if (m_process.state() != QProcess::Running) {
            m_error = QStringLiteral("redis-server exited: %1").arg(QString::fromUtf8(log()));
            return false;
        }
        QLocalSocket socket;
        socket.connectToServer(socketPath());
        if (socket.waitForConnected(1000)) {
            socket.write("PING\r\n");
            QByteArray answer;
            while (!answer.contains('\n') && socket.waitForReadyRead(1000))
                answer += socket.readAll();
            if (answer.startsWith("+PONG") || answer.startsWith("-NOAUTH"))
                return true;
        }
        QThread::msleep(20);
    }
    m_error = QStringLiteral("redis-server did not answer within %1 ms: %2")
                  .arg(timeoutMs)
                  .arg(QString::fromUtf8(log()));
    return false;
}

void RedisServer::kill()
{
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.kill();
    m_process.waitForFinished(10000);
    m_paused = false;
}

void RedisServer::pause()
{
    if (isRunning() && !m_paused && ::kill(pid_t(m_process.processId()), SIGSTOP) == 0)
        m_paused = true;
}

void RedisServer::resume()
{
    if (m_paused && ::kill(pid_t(m_process.processId()), SIGCONT) == 0)
        m_paused = false;
}

bool RedisServer::isRunning() const
{
    return m_process.state() == QProcess::Running;
}
