#include "redisclient.h"

#include <QUrl>

#include <cctype>
#include <limits>

namespace {

bool fail(QString *error, const QString &reason)
{
    if (error)
        *error = reason;
    return false;
}

// Percent-decodes `text` into *out; false on a '%' not followed by two hex digits.
bool percentDecode(QStringView text, QString *out)
{
    const QByteArray utf8 = text.toUtf8();
    for (qsizetype i = 0; i < utf8.size(); ++i) {
        if (utf8[i] != '%')
            continue;
        if (i + 2 >= utf8.size() || !isxdigit(uchar(utf8[i + 1]))
            || !isxdigit(uchar(utf8[i + 2])))
            return false;
        i += 2;
    }
    *out = QString::fromUtf8(QByteArray::fromPercentEncoding(utf8));
    return true;
}

// A non-negative decimal number of at most `max` (no sign, no spaces).
std::optional<qint64> parseNumber(QStringView text, qint64 max)
{
    if (text.isEmpty() || text.size() > 10)
        return std::nullopt;
    qint64 value = 0;
    for (QChar c : text) {
        if (c < u'0' || c > u'9')
            return std::nullopt;
        value = value * 10 + (c.unicode() - u'0');
    }
    if (value > max)
        return std::nullopt;
    return value;
}

// "user:password", ":password" or "password" (redis-cli's reading): percent-decoded.
bool parseUserInfo(QStringView info, RedisUrl *url, QString *error)
{
    const qsizetype colon = info.indexOf(u':');
    QString user, password;
    if (!percentDecode(colon < 0 ? QStringView() : info.left(colon), &user)
        || !percentDecode(colon < 0 ? info : info.mid(colon + 1), &password))
        return fail(error, QStringLiteral("bad percent-encoding in the user or password"));
    if (!user.isEmpty() && password.isEmpty())
        return fail(error, QStringLiteral("user \"%1\" has no password").arg(user));
    url->user = user;
    url->password = password;
    return true;
}

// "?db=N" (the only parameter).
bool parseQuery(QStringView query, bool haveDb, RedisUrl *url, QString *error)
{
    if (query.isEmpty())
        return true;
    if (!query.startsWith(u"db="))
        return fail(error, QStringLiteral("unknown parameter \"%1\" (only db=N)")
                               .arg(query.left(query.indexOf(u'='))));
    if (haveDb)
        return fail(error, QStringLiteral("the db is given twice"));
    const auto db = parseNumber(query.mid(3), std::numeric_limits<int>::max());
    if (!db)
        return fail(error, QStringLiteral("bad db \"%1\"").arg(query.mid(3)));
    url->db = int(*db);
    return true;
}

// host[:port], [ipv6][:port].
bool parseHostPort(QStringView text, RedisUrl *url, QString *error)
{
    QStringView host = text;
    QStringView port;
    if (text.startsWith(u'[')) {
        const qsizetype close = text.indexOf(u']');
        if (close < 0)
            return fail(error, QStringLiteral("unclosed [ in the host"));
        host = text.mid(1, close - 1);
        QStringView rest = text.mid(close + 1);
        if (!rest.isEmpty()) {
            if (!rest.startsWith(u':'))
                return fail(error, QStringLiteral("junk after the host \"%1\"").arg(rest));
            port = rest.mid(1);
            if (port.isEmpty())
                return fail(error, QStringLiteral("empty port"));
        }
    } else {
        const qsizetype colon = text.indexOf(u':');
        if (colon >= 0) {
            host = text.left(colon);
            port = text.mid(colon + 1);
            if (port.isEmpty())
                return fail(error, QStringLiteral("empty port"));
        }
    }
    if (host.isEmpty())
        return fail(error, QStringLiteral("no host"));
    QString decoded;
    if (!percentDecode(host, &decoded))
        return fail(error, QStringLiteral("bad percent-encoding in the host"));
    url->host = decoded;
    if (!port.isEmpty()) {
        const auto number = parseNumber(port, 65535);
        if (!number || *number == 0)
            return fail(error, QStringLiteral("bad port \"%1\"").arg(port));
        url->port = quint16(*number);
    }
    return true;
}

} // namespace

// redis://[user:password@]host[:port][/db][?db=N], rediss://... (TLS),
// unix://[user:password@]/path/to/redis.sock[?db=N]. The authority ends at the first '/'
// or '?', so a '/', '?' or '@' in a password must be percent-encoded (as in redis-cli).
std::optional<RedisUrl> RedisUrl::parse(const QString &text, QString *error)
{
    RedisUrl url;
    const QStringView all = QStringView(text).trimmed();
    const qsizetype schemeEnd = all.indexOf(u"://");
    if (schemeEnd < 0) {
        fail(error, QStringLiteral("\"%1\" is not a Redis URL (redis://, rediss:// or unix://)")
                        .arg(all));
        return std::nullopt;
    }
    const QString scheme = all.left(schemeEnd).toString().toLower();
    if (scheme == u"redis") {
        url.scheme = Scheme::Tcp;
    } else if (scheme == u"rediss") {
        url.scheme = Scheme::Tls;
    } else if (scheme == u"unix") {
        url.scheme = Scheme::Unix;
    } else {
        fail(error, QStringLiteral("unknown scheme \"%1://\" (redis://, rediss:// or unix://)")
                        .arg(scheme));
        return std::nullopt;
    }

    QStringView rest = all.mid(schemeEnd + 3);
    QStringView query;
    const qsizetype questionMark = rest.indexOf(u'?');
    if (questionMark >= 0) {
        query = rest.mid(questionMark + 1);
        rest = rest.left(questionMark);
    }
    const qsizetype slash = rest.indexOf(u'/');
    QStringView authority = slash < 0 ? rest : rest.left(slash);
    const QStringView path = slash < 0 ? QStringView() : rest.mid(slash);
    const qsizetype at = authority.lastIndexOf(u'@');
    if (at >= 0) {
        if (!parseUserInfo(authority.left(at), &url, error))
            return std::nullopt;
        authority = authority.mid(at + 1);
    }

    bool haveDb = false;
    if (url.scheme == Scheme::Unix) {
        if (!authority.isEmpty()) {
            fail(error, QStringLiteral("unix:// takes a socket path, not a host (unix:///path)"));
            return std::nullopt;
        }
        if (path.size() < 2) {
            fail(error, QStringLiteral("unix:// needs an absolute socket path"));
            return std::nullopt;
        }
        if (!percentDecode(path, &url.socketPath)) {
            fail(error, QStringLiteral("bad percent-encoding in the socket path"));
            return std::nullopt;
        }
    } else {
        if (!parseHostPort(authority, &url, error))
            return std::nullopt;
        if (path.size() > 1) {
            const auto db = parseNumber(path.mid(1), std::numeric_limits<int>::max());
            if (!db) {
                fail(error, QStringLiteral("bad db \"%1\" (a number)").arg(path.mid(1)));
                return std::nullopt;
            }
            url.db = int(*db);
            haveDb = true;
        }
    }
    if (!parseQuery(query, haveDb, &url, error))
        return std::nullopt;
    return url;
}

QString RedisUrl::display() const
{
    QString text;
    switch (scheme) {
    case Scheme::Tcp:
        text = QStringLiteral("redis://");
        break;
    case Scheme::Tls:
        text = QStringLiteral("rediss://");
        break;
    case Scheme::Unix:
        text = QStringLiteral("unix://");
        break;
    }
    if (!user.isEmpty())
        text += QString::fromLatin1(QUrl::toPercentEncoding(user)) + u'@';
    if (scheme == Scheme::Unix) {
        text += socketPath;
        if (db != 0)
            text += QStringLiteral("?db=%1").arg(db);
        return text;
    }
    text += host.contains(u':') ? u'[' + host + u']' : host;
    text += QStringLiteral(":%1").arg(port);
    if (db != 0)
        text += QStringLiteral("/%1").arg(db);
    return text;
}
