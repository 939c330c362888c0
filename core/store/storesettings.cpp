// StoreDatabase: the settings table, the user's decisions that must survive a crash (the
// limits and paused state as they change) and what a shutdown cut short.
#include "storesql.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>

using namespace StoreSql;

namespace {

const QString LimitsKey = QStringLiteral("limits");
const QString InterruptedKey = QStringLiteral("interrupted_at_exit");

QJsonObject toJson(const EngineLimits &limits)
{
    QJsonObject groups;
    for (auto it = limits.groupLimits.cbegin(); it != limits.groupLimits.cend(); ++it)
        groups.insert(it.key(), it.value());
    return {{QStringLiteral("max_running"), limits.maxRunning},
            {QStringLiteral("paused"), limits.paused},
            {QStringLiteral("group_limits"), groups},
            {QStringLiteral("paused_groups"), QJsonArray::fromStringList(limits.pausedGroups)}};
}

// A damaged value gives the defaults for what cannot be read, never a crash.
EngineLimits limitsFrom(const QJsonObject &o)
{
    EngineLimits limits;
    limits.maxRunning = qMax(1, o.value(QStringLiteral("max_running")).toInt(limits.maxRunning));
    limits.paused = o.value(QStringLiteral("paused")).toBool();
    const QJsonObject groups = o.value(QStringLiteral("group_limits")).toObject();
    for (auto it = groups.constBegin(); it != groups.constEnd(); ++it)
        if (const int limit = it.value().toInt(); limit > 0)
            limits.groupLimits.insert(it.key(), limit);
    for (const QJsonValue &group : o.value(QStringLiteral("paused_groups")).toArray())
        if (group.isString())
            limits.pausedGroups.append(group.toString());
    limits.pausedGroups.sort();
    return limits;
}

} // namespace

bool StoreDatabase::writeLimits(const EngineLimits &limits)
{
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)"));
    q.addBindValue(LimitsKey);
    q.addBindValue(QString::fromUtf8(QJsonDocument(toJson(limits)).toJson(QJsonDocument::Compact)));
    return q.exec() || fail(q);
}

bool StoreDatabase::addInterruptedAtExit(int count, const QStringList &groups)
{
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("SELECT value FROM settings WHERE key = ?"));
    q.addBindValue(InterruptedKey);
    if (!q.exec())
        return fail(q);
    QJsonObject o;
    if (q.next())
        o = QJsonDocument::fromJson(q.value(0).toString().toUtf8()).object();
    q.finish();
    QStringList all;
    for (const QJsonValue &group : o.value(QStringLiteral("groups")).toArray())
        all.append(group.toString());
    for (const QString &group : groups)
        if (!all.contains(group))
            all.append(group);
    o.insert(QStringLiteral("count"), o.value(QStringLiteral("count")).toInt() + count);
    o.insert(QStringLiteral("groups"), QJsonArray::fromStringList(all));
    q.prepare(QStringLiteral("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)"));
    q.addBindValue(InterruptedKey);
    q.addBindValue(QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact)));
    return q.exec() || fail(q);
}

bool StoreDatabase::recoverSettings(StoreRecovery *recovery)
{
    QSqlQuery q(m_db);
    if (!q.exec(QStringLiteral("SELECT key, value FROM settings")))
        return fail(q);
    while (q.next()) {
        const QJsonObject o = QJsonDocument::fromJson(q.value(1).toString().toUtf8()).object();
        if (q.value(0).toString() == LimitsKey) {
            recovery->limits = limitsFrom(o);
        } else if (q.value(0).toString() == InterruptedKey) {
            recovery->interrupted += qMax(0, o.value(QStringLiteral("count")).toInt());
            for (const QJsonValue &group : o.value(QStringLiteral("groups")).toArray())
                if (group.isString() && !recovery->interruptedGroups.contains(group.toString()))
                    recovery->interruptedGroups.append(group.toString());
        }
    }
    q.finish();
    q.prepare(QStringLiteral("DELETE FROM settings WHERE key = ?"));
    q.addBindValue(InterruptedKey);
    return q.exec() || fail(q);
}
