// StoreDatabase: the connection and its transactions (see storesql.h for the other files).
#include "storesql.h"

#include <atomic>

using namespace StoreSql;

namespace {

const QString ConnectionPrefix = QStringLiteral("taskdeck-store-");

} // namespace

StoreDatabase::StoreDatabase()
{
    static std::atomic<int> connections{0};
    m_connection = ConnectionPrefix + QString::number(++connections);
}

StoreDatabase::~StoreDatabase()
{
    close();
}

void StoreDatabase::close()
{
    m_statements.reset();
    m_db.close();
    m_db = QSqlDatabase();
    if (QSqlDatabase::contains(m_connection))
        QSqlDatabase::removeDatabase(m_connection);
}

bool StoreDatabase::fail(const QSqlQuery &query)
{
    m_lastError = describe(query.lastError());
    return false;
}

// ---- transactions ----

bool StoreDatabase::begin()
{
    if (!m_statements) {
        m_lastError = QStringLiteral("the task store is not open");
        return false;
    }
    if (m_db.transaction())
        return true;
    m_lastError = describe(m_db.lastError());
    return false;
}

void StoreDatabase::rollback()
{
    m_db.rollback();
}

bool StoreDatabase::commit()
{
    if (m_db.commit())
        return true;
    m_lastError = describe(m_db.lastError());
    m_db.rollback();
    return false;
}
