#pragma once

#include "cluster/redisclient.h"

#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>
#include <QTest>

// A redis-server of the test's own: no TCP port (`--port 0`), a unix socket in a
// temporary directory, no RDB snapshots, optionally AOF, passwords, ACL users and TLS.
// It can be killed (SIGKILL), stopped (SIGSTOP) and restarted on the same socket and
// directory (the AOF is kept); the destructor kills it. Owned by the test's thread.
class RedisServer
{
public:
    struct Options
    {
        bool appendOnly = false;
        QString password;    // requirepass (the default user's password)
        QStringList users;   // ACL users "name password", with every right
        bool tls = false;    // also a TLS port on 127.0.0.1, certificates made by openssl
    };

    RedisServer();
    ~RedisServer();
    RedisServer(const RedisServer &) = delete;
    RedisServer &operator=(const RedisServer &) = delete;

    // Whether redis-server (and, for TLS, openssl) can be run; *why says what is missing.
    static bool isAvailable(QString *why, bool tls = false);

    // Starts the server and waits (at most 10 s) until it answers PING; false and
    // errorString() on failure.
    bool start() { return start(Options()); }
    bool start(const Options &options);
    bool restart(); // the same options, socket and directory
    void kill();    // SIGKILL, and waits for the process to end
    void pause();   // SIGSTOP: connections are accepted but nothing is answered
    void resume();  // SIGCONT
    bool isRunning() const;

    QString errorString() const { return m_error; }
    QString dir() const { return m_dir.path(); }
    QString socketPath() const;
    quint16 tlsPort() const { return m_tlsPort; }
    QString caFile() const; // the CA that signed the server's certificate (TLS)
    QByteArray log() const; // the server's log file, for a failure message

    // unix:///<socket> with the given credentials; rediss://localhost:<tlsPort> with
    // caFile set for tlsUrl().
    RedisUrl url(const QString &user = {}, const QString &password = {}) const;
    RedisUrl tlsUrl(const QString &user = {}, const QString &password = {}) const;

private:
    bool makeCertificates();
    bool writeConfig();
    bool waitUntilAnswering(int timeoutMs);

    QTemporaryDir m_dir;
    QProcess m_process;
    Options m_options;
    quint16 m_tlsPort = 0;
    bool m_paused = false;
    QString m_error;
};

// Skips the calling test when redis-server is missing (and openssl, for `tls`).
#define REDIS_SERVER_OR_SKIP(tls)                                                          \
    do {                                                                                   \
        QString redisWhy_;                                                                 \
        if (!RedisServer::isAvailable(&redisWhy_, tls))                                    \
            QSKIP(qPrintable(redisWhy_));                                                  \
    } while (false)
