#pragma once

#include <QList>
#include <QStringList>
#include <QWidget>

class QFrame;
class QVBoxLayout;

// Messages the user must see and decides when to put away, stacked at the top of the
// window: problems with the task store, what came back after a restart. Each notice has
// its own close button. Above them, errors: states that last (a store that cannot
// write), shown in red without a close button until their owner clears them. The bar
// takes no room when there is neither. Main thread.
class NoticeBar : public QWidget
{
    Q_OBJECT
public:
    // Past this many, the oldest notice gives way to a new one.
    static constexpr int MaxNotices = 5;

    explicit NoticeBar(QWidget *parent = nullptr);

    // Shows `text` (plain text) as a new notice, below those already shown; a text that
    // is already shown is not repeated.
    void addNotice(const QString &text);
    // The texts shown, oldest first.
    QStringList notices() const;
    void dismiss(int index);
    void dismissAll();

    // Shows `text` as the error of `key` (a new text replaces the old one) until
    // clearError(key); errors stand above the notices, in the order first set.
    void setError(const QString &key, const QString &text);
    void clearError(const QString &key);
    // The texts of the errors shown, first set first.
    QStringList errors() const;

Q_SIGNALS:
    void dismissed(const QString &text);

protected:
    void changeEvent(QEvent *event) override;

private:
    QFrame *makeFrame(const QString &text, bool error);
    void restyle(QFrame *notice, bool error);
    void remove(QFrame *notice);
    void updateVisibility();

    QVBoxLayout *m_layout;
    QList<QFrame *> m_notices;
    QList<std::pair<QString, QFrame *>> m_errors; // by key
};
