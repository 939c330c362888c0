#pragma once

#include <QString>

#include <memory>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;
class QNetworkRequest;
class QByteArray;

// The engine thread's HTTP connection pool for Lua tasks. Qt 6.4's
// QNetworkAccessManager opens at most 6 connections per host and port (raising it needs
// QHttp1Configuration, Qt 6.5), so requests are spread over several managers, each
// with its own pool: up to Managers * 6 requests to one host run at once, the rest
// queue inside Qt. Used on one thread; forThisThread() keeps it alive while in use.
class HttpClient
{
public:
    static constexpr int Managers = 8;

    static std::shared_ptr<HttpClient> forThisThread();
    ~HttpClient();

    QNetworkReply *send(const QByteArray &method, const QNetworkRequest &request,
                        const QByteArray &body);

private:
    HttpClient();
    std::vector<std::unique_ptr<QNetworkAccessManager>> m_managers;
    size_t m_next = 0;
};
